import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { StageError } from "../errors.js";
import { ecrFailure } from "./ecr-errors.js";
import type { EcrTarget } from "./ecr-target.js";
import type { RegistryAuthProvider, RegistryCredentials } from "./registry-auth-provider.js";

export interface EcrAuthProviderOptions {
  target: EcrTarget;
  /** Defaults to a client for the target's region with the SDK's default credential chain. */
  client?: ECRClient;
}

/**
 * A 12-hour Docker login for ECR from GetAuthorizationToken, whose token is
 * base64 `AWS:<password>`.
 */
export class EcrAuthProvider implements RegistryAuthProvider {
  readonly description: string;
  readonly #target: EcrTarget;
  readonly #client: ECRClient;

  constructor({ target, client }: EcrAuthProviderOptions) {
    this.#target = target;
    this.#client = client ?? new ECRClient({ region: target.region });
    this.description = `ecr (region ${target.region})`;
  }

  async credentials(): Promise<RegistryCredentials> {
    const target = this.#target;
    let output;
    try {
      output = await this.#client.send(
        new GetAuthorizationTokenCommand(
          target.accountId ? { registryIds: [target.accountId] } : {},
        ),
      );
    } catch (error) {
      throw ecrFailure("get a Docker login token", target, error);
    }
    const data = output.authorizationData?.[0];
    const decoded = data?.authorizationToken
      ? Buffer.from(data.authorizationToken, "base64").toString("utf8")
      : "";
    const colon = decoded.indexOf(":");
    if (!data || colon <= 0 || colon === decoded.length - 1) {
      // Never echo the token: even a malformed one may be most of a secret.
      throw new StageError(
        `ECR registry ${target.registry} (region ${target.region}) returned no usable ` +
          `authorization token (expected base64 "AWS:<password>")`,
      );
    }
    return {
      username: decoded.slice(0, colon),
      password: decoded.slice(colon + 1),
      serveraddress: data.proxyEndpoint ?? `https://${target.registry}`,
    };
  }
}
