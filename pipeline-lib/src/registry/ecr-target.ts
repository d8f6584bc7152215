import { ConfigError } from "../errors.js";
import type { RepositoryReference } from "../reference/image-reference.js";

/** Which ECR private registry, in which region, a repository lives in. */
export interface EcrTarget {
  readonly region: string;
  /** The registry id (the AWS account); undefined means "the caller's account". */
  readonly accountId: string | undefined;
  /** The repository name inside the registry: `visit-counter`. */
  readonly repositoryName: string;
  /** For messages: `123456789012.dkr.ecr.eu-west-1.amazonaws.com`. */
  readonly registry: string;
}

export interface EcrAuthConfig {
  region?: string | undefined;
  accountId?: string | undefined;
}

/**
 * Region: the config, else the repository host, else AWS_REGION /
 * AWS_DEFAULT_REGION. The host wins over the environment because an ECR token
 * is only valid for the registry of the region it was issued in, and Jenkins
 * agents often carry an AWS_REGION for other work. The account follows the
 * same order (config, host); without either, ECR uses the caller's account.
 */
export function resolveEcrTarget(
  auth: EcrAuthConfig,
  ref: RepositoryReference,
  env: NodeJS.ProcessEnv,
): EcrTarget {
  const fromHost = ref.ecr;
  if (fromHost && auth.region && auth.region !== fromHost.region) {
    throw new ConfigError(
      `registry.auth.region is ${auth.region}, but the repository ${ref.repository} is in ` +
        `${fromHost.region}; remove registry.auth.region or fix image.repository`,
    );
  }
  if (fromHost && auth.accountId && auth.accountId !== fromHost.accountId) {
    throw new ConfigError(
      `registry.auth.accountId is ${auth.accountId}, but the repository ${ref.repository} ` +
        `belongs to account ${fromHost.accountId}; remove registry.auth.accountId or fix image.repository`,
    );
  }
  const region =
    auth.region ??
    fromHost?.region ??
    (env.AWS_REGION || undefined) ??
    (env.AWS_DEFAULT_REGION || undefined);
  if (!region) {
    throw new ConfigError(
      `cannot tell the AWS region of registry ${ref.registry}: set registry.auth.region in the ` +
        `config, or AWS_REGION, or use an ECR repository host (<account>.dkr.ecr.<region>.amazonaws.com)`,
    );
  }
  return {
    region,
    accountId: auth.accountId ?? fromHost?.accountId,
    repositoryName: ref.path,
    registry: ref.registry,
  };
}
