import { ECRClient } from "@aws-sdk/client-ecr";
import type { PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { parseRepository, type RepositoryReference } from "../reference/image-reference.js";
import { createAuthProvider } from "./create-auth-provider.js";
import { EcrAuthProvider } from "./ecr-auth-provider.js";
import { EcrRegistry } from "./ecr-registry.js";
import { resolveEcrTarget } from "./ecr-target.js";
import type { ImageRegistry, OciArtifactStore } from "./image-registry.js";
import type { RegistryAuthProvider } from "./registry-auth-provider.js";
import { RegistryV2Client, type Fetch } from "./registry-v2-client.js";

/** One repository and everything a command needs to reach it, resolved once. */
export interface RegistryTarget {
  /** The repository, parsed: registry host, path, ECR account and region. */
  readonly reference: RepositoryReference;
  /** Where the credentials for a push come from. */
  readonly auth: RegistryAuthProvider;
  /** Tag lookups and tagging without pulling. */
  readonly registry: ImageRegistry;
  /** Manifests and blobs beside the image: its signed evidence, in cosign's layout. */
  readonly artifacts: OciArtifactStore;
}

export interface RegistryTargetDeps {
  fetch?: Fetch;
  ecrClient?: ECRClient;
  /** Overrides the http-for-loopback, https-otherwise default of the v2 client. */
  scheme?: "http" | "https";
}

/**
 * The repository (the config's, or another one: the artifact's for push,
 * `--repository` for promote) with the config's registry auth. A bad
 * repository is a ConfigError naming it.
 *
 * ECR goes through the ECR API, which needs no Docker login and keeps working
 * when a v2 token has expired; its push credentials and its tagging share one
 * ECRClient. Every other registry goes through the Registry v2 API with the
 * configured credentials.
 */
export function resolveRegistryTarget(
  config: Pick<PipelineConfig, "image" | "registry">,
  env: NodeJS.ProcessEnv,
  deps: RegistryTargetDeps = {},
  repository: string = config.image.repository,
): RegistryTarget {
  const settings = config.registry.auth;
  let reference: RepositoryReference;
  try {
    reference = parseRepository(repository);
  } catch (error) {
    throw new ConfigError((error as Error).message, { cause: error });
  }
  if (settings.provider === "ecr") {
    const target = resolveEcrTarget(settings, reference, env);
    const client = deps.ecrClient ?? new ECRClient({ region: target.region });
    const auth = new EcrAuthProvider({ target, client });
    return {
      reference,
      auth,
      registry: new EcrRegistry({ target, client }),
      // ECR serves the Registry v2 API too, with the same token (user AWS).
      artifacts: new RegistryV2Client({
        ref: reference,
        auth,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
        ...(deps.scheme ? { scheme: deps.scheme } : {}),
      }),
    };
  }
  const auth = createAuthProvider(settings, reference, env);
  const client = new RegistryV2Client({
    ref: reference,
    auth,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.scheme ? { scheme: deps.scheme } : {}),
  });
  return { reference, auth, registry: client, artifacts: client };
}
