import type { ECRClient } from "@aws-sdk/client-ecr";
import type { PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { createAuthProvider, type RegistryAuthSettings } from "./create-auth-provider.js";
import { EcrRegistry } from "./ecr-registry.js";
import { resolveEcrTarget } from "./ecr-target.js";
import { parseRepository, type RepositoryReference } from "./image-reference.js";
import type { ImageRegistry } from "./image-registry.js";
import { RegistryV2Client, type Fetch } from "./registry-v2-client.js";

/** One repository and how to authenticate to its registry. */
export interface RegistryTarget {
  repository: string;
  auth: RegistryAuthSettings;
}

export interface CreateImageRegistryDeps {
  fetch?: Fetch;
  ecrClient?: ECRClient;
  /** Overrides the http-for-loopback, https-otherwise default of the v2 client. */
  scheme?: "http" | "https";
}

/** The repository and auth that the config names. */
export function registryTargetOf(
  config: Pick<PipelineConfig, "image" | "registry">,
): RegistryTarget {
  return { repository: config.image.repository, auth: config.registry.auth };
}

/** Parses a repository, turning a bad one into a ConfigError that names it. */
export function parseRepositoryOrThrow(repository: string): RepositoryReference {
  try {
    return parseRepository(repository);
  } catch (error) {
    throw new ConfigError((error as Error).message, { cause: error });
  }
}

/**
 * ECR (by auth provider) goes through the ECR API, which needs no Docker
 * login and keeps working when the v2 endpoint's token has expired;
 * everything else through the Registry v2 API with the configured credentials.
 * Takes the config itself, or a repository and auth (promote --repository).
 */
export function createImageRegistry(
  source: RegistryTarget | Pick<PipelineConfig, "image" | "registry">,
  env: NodeJS.ProcessEnv,
  deps: CreateImageRegistryDeps = {},
): ImageRegistry {
  const target = "repository" in source ? source : registryTargetOf(source);
  const ref = parseRepositoryOrThrow(target.repository);
  if (target.auth.provider === "ecr") {
    return new EcrRegistry({
      target: resolveEcrTarget(target.auth, ref, env),
      ...(deps.ecrClient ? { client: deps.ecrClient } : {}),
    });
  }
  return new RegistryV2Client({
    ref,
    auth: createAuthProvider(target.auth, ref, env, deps),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.scheme ? { scheme: deps.scheme } : {}),
  });
}
