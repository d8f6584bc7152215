import {
  BatchGetImageCommand,
  ECRClient,
  ImageFailureCode,
  PutImageCommand,
  type Image,
  type ImageIdentifier,
} from "@aws-sdk/client-ecr";
import { StageError } from "../errors.js";
import { ecrFailure } from "./ecr-errors.js";
import type { EcrTarget } from "./ecr-target.js";
import type { ImageRegistry, TagResult } from "./image-registry.js";
import { MANIFEST_MEDIA_TYPES } from "./manifest-media-types.js";

export interface EcrRegistryOptions {
  target: EcrTarget;
  /** Defaults to a client for the target's region with the SDK's default credential chain. */
  client?: ECRClient;
}

/** Tags through the ECR API (BatchGetImage / PutImage), which needs no Docker login. */
export class EcrRegistry implements ImageRegistry {
  readonly repository: string;
  readonly #target: EcrTarget;
  readonly #client: ECRClient;

  constructor({ target, client }: EcrRegistryOptions) {
    this.#target = target;
    this.#client = client ?? new ECRClient({ region: target.region });
    this.repository = `${target.registry}/${target.repositoryName}`;
  }

  async resolveTag(tag: string): Promise<string | undefined> {
    const image = await this.#getImage({ imageTag: tag }, `look up tag ${tag}`);
    return image?.imageId?.imageDigest;
  }

  async tagManifest(digest: string, tag: string): Promise<TagResult> {
    const previous = await this.resolveTag(tag);
    if (previous === digest) return { change: "unchanged" };
    const image = await this.#getImage({ imageDigest: digest }, `get manifest ${digest}`);
    if (!image?.imageManifest) {
      throw new StageError(`manifest ${digest} is not in ${this.repository}; push it first`);
    }
    try {
      // The manifest string exactly as ECR returned it, so its digest is unchanged.
      await this.#client.send(
        new PutImageCommand({
          ...this.#ids(),
          imageManifest: image.imageManifest,
          ...(image.imageManifestMediaType
            ? { imageManifestMediaType: image.imageManifestMediaType }
            : {}),
          imageTag: tag,
          imageDigest: digest,
        }),
      );
    } catch (error) {
      const name = error instanceof Error ? error.name : "";
      // Someone tagged it between our lookup and the put: the goal is met.
      if (name === "ImageAlreadyExistsException") return { change: "unchanged" };
      if (name === "ImageTagAlreadyExistsException") {
        throw new StageError(
          `cannot move tag ${tag} of ${this.repository} to ${digest}: the repository has ` +
            `immutable tags and ${tag} already points to ${previous ?? "another image"}`,
          { cause: error },
        );
      }
      throw ecrFailure(`tag ${digest} as ${tag}`, this.#target, error);
    }
    return previous ? { change: "moved", previousDigest: previous } : { change: "created" };
  }

  async #getImage(imageId: ImageIdentifier, what: string): Promise<Image | undefined> {
    let output;
    try {
      output = await this.#client.send(
        new BatchGetImageCommand({
          ...this.#ids(),
          imageIds: [imageId],
          acceptedMediaTypes: [...MANIFEST_MEDIA_TYPES],
        }),
      );
    } catch (error) {
      throw ecrFailure(what, this.#target, error);
    }
    const failure = output.failures?.[0];
    // ImageNotFound is how BatchGetImage says "no such tag or digest": an answer, not a failure.
    if (failure && failure.failureCode !== ImageFailureCode.ImageNotFound) {
      throw new StageError(
        `cannot ${what} in ${this.repository}: ${failure.failureCode}: ${failure.failureReason}`,
      );
    }
    return output.images?.[0];
  }

  #ids(): { repositoryName: string; registryId?: string } {
    const { repositoryName, accountId } = this.#target;
    return accountId ? { repositoryName, registryId: accountId } : { repositoryName };
  }
}
