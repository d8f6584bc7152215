import type { ECRClient } from "@aws-sdk/client-ecr";
import { BasicAuthProvider } from "./basic-auth-provider.js";
import { EcrAuthProvider } from "./ecr-auth-provider.js";
import { resolveEcrTarget } from "./ecr-target.js";
import {
  DOCKER_HUB,
  DOCKER_HUB_AUTH_ADDRESS,
  type RepositoryReference,
} from "../reference/image-reference.js";
import { NoAuthProvider } from "./no-auth-provider.js";
import type { RegistryAuthProvider } from "./registry-auth-provider.js";

/**
 * What `registry.auth` in the config says; only the fields of the chosen
 * provider matter, and the basic variable names default as in the config schema.
 */
export interface RegistryAuthSettings {
  provider: "basic" | "ecr" | "none";
  usernameEnv?: string | undefined;
  passwordEnv?: string | undefined;
  region?: string | undefined;
  accountId?: string | undefined;
}

export interface CreateAuthProviderDeps {
  ecrClient?: ECRClient;
}

/** The provider that `registry.auth` in the config asks for, for one repository. */
export function createAuthProvider(
  auth: RegistryAuthSettings,
  ref: RepositoryReference,
  env: NodeJS.ProcessEnv,
  deps: CreateAuthProviderDeps = {},
): RegistryAuthProvider {
  switch (auth.provider) {
    case "basic":
      return new BasicAuthProvider({
        serveraddress: ref.registry === DOCKER_HUB ? DOCKER_HUB_AUTH_ADDRESS : ref.registry,
        usernameEnv: auth.usernameEnv ?? "REGISTRY_USERNAME",
        passwordEnv: auth.passwordEnv ?? "REGISTRY_PASSWORD",
        env,
      });
    case "ecr":
      return new EcrAuthProvider({
        target: resolveEcrTarget(auth, ref, env),
        ...(deps.ecrClient ? { client: deps.ecrClient } : {}),
      });
    case "none":
      return new NoAuthProvider();
  }
}
