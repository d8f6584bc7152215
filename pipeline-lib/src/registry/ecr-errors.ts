import { ConfigError, StageError } from "../errors.js";
import type { EcrTarget } from "./ecr-target.js";

/** Errors the AWS SDK raises when there are no usable credentials. */
const CREDENTIAL_ERRORS = new Set([
  "CredentialsProviderError",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "InvalidClientTokenId",
  "ExpiredTokenException",
  "ExpiredToken",
  "TokenRefreshRequired",
]);

export const AWS_CREDENTIALS_HINT =
  "provide AWS credentials through AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
  "(in Jenkins: withCredentials or withAWS), an instance or pod role, or AWS_PROFILE";

/**
 * Turns an AWS SDK failure into our vocabulary: missing or rejected
 * credentials are a configuration problem (exit 2); the rest is a failed stage.
 * The SDK's own error stays as the cause; its messages carry no secrets.
 */
export function ecrFailure(action: string, target: EcrTarget, error: unknown): Error {
  const name = error instanceof Error ? error.name : "";
  const where = `ECR registry ${target.registry} (region ${target.region})`;
  const reason = error instanceof Error ? error.message : String(error);
  if (CREDENTIAL_ERRORS.has(name)) {
    return new ConfigError(
      `cannot ${action} in ${where}: no valid AWS credentials (${name}: ${reason}); ${AWS_CREDENTIALS_HINT}`,
      { cause: error },
    );
  }
  if (name === "AccessDeniedException") {
    return new ConfigError(
      `cannot ${action} in ${where}: access denied (${reason}); grant the caller's IAM role the ECR permissions`,
      { cause: error },
    );
  }
  if (name === "RepositoryNotFoundException") {
    return new ConfigError(
      `cannot ${action}: repository ${target.repositoryName} does not exist in ${where}; ` +
        `create it (aws ecr create-repository) or fix image.repository`,
      { cause: error },
    );
  }
  return new StageError(`cannot ${action} in ${where}: ${name ? `${name}: ` : ""}${reason}`, {
    cause: error,
  });
}
