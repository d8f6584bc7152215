import type { PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { Reporter } from "../output/reporter.js";
import type { PullSecret } from "./render-manifests.js";
import { createAuthProvider } from "../registry/create-auth-provider.js";
import { parseRepository } from "../reference/image-reference.js";

/**
 * The variables that hold a pull-only (read) credential for the
 * imagePullSecret, as a second `usernamePassword` binding in Jenkins sets
 * them. Fixed names: `registry.auth` names the push credential's variables,
 * and these are the pull credential's.
 */
export const PULL_USERNAME_ENV = "REGISTRY_PULL_USERNAME";
export const PULL_PASSWORD_ENV = "REGISTRY_PULL_PASSWORD";

type PullSecretConfig = Pick<PipelineConfig, "app" | "image" | "registry">;

export interface ResolvedPullSecret {
  /** The Secret to write, when the pods need one. */
  secret?: PullSecret;
  /**
   * Set when the Secret holds the push credentials (no pull credential was
   * given): what is wrong and how to fix it, for the caller to warn with once.
   */
  warning?: string;
}

/**
 * The imagePullSecret the pods pull with, for `basic` registries: the
 * pull-only credential from REGISTRY_PULL_USERNAME / REGISTRY_PULL_PASSWORD
 * when they are set, otherwise (as before there was a choice) the credential
 * the pipeline pushed with, and a warning saying so. ECR needs none (EKS
 * nodes pull with their IAM role), and neither does an anonymous registry. An
 * image from another registry than the configured one gets no secret either.
 */
export async function resolvePullSecret(
  config: PullSecretConfig,
  image: string,
  env: NodeJS.ProcessEnv,
): Promise<ResolvedPullSecret> {
  const { auth } = config.registry;
  if (auth.provider !== "basic") return {};
  const configured = parseRepository(config.image.repository);
  const imageRegistry = image.slice(0, image.indexOf("/"));
  if (imageRegistry !== configured.registry) return {};
  const name = `${config.app.name}-registry`;
  const secret = (username: string, password: string): PullSecret => ({
    name,
    registry: configured.registry,
    dockerConfigJson: dockerConfigJson(configured.registry, username, password),
  });

  const pullUsername = env[PULL_USERNAME_ENV];
  const pullPassword = env[PULL_PASSWORD_ENV];
  if (pullUsername || pullPassword) {
    if (!pullUsername || !pullPassword) {
      const [set, unset] = pullUsername
        ? [PULL_USERNAME_ENV, PULL_PASSWORD_ENV]
        : [PULL_PASSWORD_ENV, PULL_USERNAME_ENV];
      throw new ConfigError(
        `${set} is set but ${unset} is not; set both to the registry's pull-only credential ` +
          `for the pods' imagePullSecret (in Jenkins: withCredentials([usernamePassword(` +
          `credentialsId: 'registry-pull', usernameVariable: '${PULL_USERNAME_ENV}', ` +
          `passwordVariable: '${PULL_PASSWORD_ENV}')])), or neither`,
      );
    }
    return { secret: secret(pullUsername, pullPassword) };
  }

  let credentials;
  try {
    credentials = await createAuthProvider(auth, configured, env).credentials();
  } catch (error) {
    throw new ConfigError(
      `the pods need credentials to pull ${image}: set ${PULL_USERNAME_ENV} and ` +
        `${PULL_PASSWORD_ENV} to a pull-only credential; without them, ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!credentials) return {};
  const { usernameEnv, passwordEnv } = auth;
  return {
    secret: secret(credentials.username, credentials.password),
    warning:
      `the cluster pulls ${configured.registry} with the push credential: ${usernameEnv}/${passwordEnv} ` +
      `go into the imagePullSecret ${name}, so whoever can read that Secret can push to ` +
      `${configured.registry}. Give the deploy a pull-only (read) credential in ` +
      `${PULL_USERNAME_ENV} and ${PULL_PASSWORD_ENV} (in Jenkins, bind a second usernamePassword ` +
      `credential, e.g. registry-pull, to them; see docs/ACCESS.md)`,
  };
}

/**
 * {@link resolvePullSecret}, with its warning (the pods would pull with the
 * push credential) told to `reporter` when one is given.
 */
export async function pullSecretFor(
  config: PullSecretConfig,
  image: string,
  env: NodeJS.ProcessEnv,
  { reporter }: { reporter?: Pick<Reporter, "warn"> } = {},
): Promise<PullSecret | undefined> {
  const { secret, warning } = await resolvePullSecret(config, image, env);
  if (warning) reporter?.warn(warning);
  return secret;
}

function dockerConfigJson(registry: string, username: string, password: string): string {
  const auth = Buffer.from(`${username}:${password}`).toString("base64");
  return JSON.stringify({ auths: { [registry]: { username, password, auth } } });
}
