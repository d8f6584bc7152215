import type { PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { PullSecret } from "./render-manifests.js";
import { createAuthProvider } from "../registry/create-auth-provider.js";
import { parseRepository } from "../reference/image-reference.js";

/**
 * The imagePullSecret the pods pull with: the same credentials the pipeline
 * pushed with, for `basic` registries. ECR needs none (EKS nodes pull with
 * their IAM role), and neither does an anonymous registry. An image from
 * another registry than the configured one gets no secret either.
 */
export async function pullSecretFor(
  config: Pick<PipelineConfig, "app" | "image" | "registry">,
  image: string,
  env: NodeJS.ProcessEnv,
): Promise<PullSecret | undefined> {
  if (config.registry.auth.provider !== "basic") return undefined;
  const configured = parseRepository(config.image.repository);
  const imageRegistry = image.slice(0, image.indexOf("/"));
  if (imageRegistry !== configured.registry) return undefined;
  let credentials;
  try {
    credentials = await createAuthProvider(config.registry.auth, configured, env).credentials();
  } catch (error) {
    throw new ConfigError(
      `the pods need credentials to pull ${image}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!credentials) return undefined;
  const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
  const dockerConfigJson = JSON.stringify({
    auths: {
      [configured.registry]: {
        username: credentials.username,
        password: credentials.password,
        auth,
      },
    },
  });
  return { name: `${config.app.name}-registry`, registry: configured.registry, dockerConfigJson };
}
