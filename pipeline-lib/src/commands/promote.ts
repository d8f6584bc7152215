import { UsageError } from "../errors.js";
import { isValidDigest, isValidTag, parseRepository } from "../reference/image-reference.js";
import type { TagResult } from "../registry/image-registry.js";
import { resolveRegistryTarget, type RegistryTargetDeps } from "../registry/registry-target.js";
import type { CommandContext } from "./context.js";

export interface PromoteOptions {
  /** The manifest to tag: `sha256:` and 64 hex digits. */
  digest: string;
  /** The tag to point at it, e.g. `production` or `release-42`. */
  tag: string;
  /** Defaults to the config's image.repository. */
  repository?: string;
}

export type PromoteDeps = RegistryTargetDeps;

export interface PromoteResult extends TagResult {
  repository: string;
  digest: string;
  tag: string;
  imageRef: string;
}

/**
 * Points a tag at a manifest that is already in the registry, without pulling
 * or rebuilding: what was verified is exactly what gets the tag. Running it
 * again changes nothing.
 */
export async function promote(
  options: PromoteOptions,
  ctx: CommandContext,
  deps: Partial<PromoteDeps> = {},
): Promise<PromoteResult> {
  const { digest, tag } = options;
  if (!isValidDigest(digest)) {
    throw new UsageError(
      `--digest "${digest}" is not a manifest digest; expected sha256: followed by 64 lowercase ` +
        `hex digits${digest.includes("@") ? " (pass only the part after @)" : ""}`,
    );
  }
  if (!isValidTag(tag)) {
    throw new UsageError(
      `--tag "${tag}" is not a valid image tag; use up to 128 letters, digits, _ . and -, ` +
        `not starting with . or -`,
    );
  }
  if (options.repository !== undefined) {
    try {
      parseRepository(options.repository);
    } catch (error) {
      throw new UsageError(`--repository: ${(error as Error).message}`, { cause: error });
    }
  }
  const config = await ctx.config();
  const { reference, registry } = resolveRegistryTarget(config, ctx.env, deps, options.repository);
  const { repository } = reference;
  ctx.reporter.progress(`tagging ${repository}@${digest} as ${tag}`);
  const outcome = await registry.tagManifest(digest, tag);
  const result: PromoteResult = {
    repository,
    digest,
    tag,
    imageRef: `${repository}@${digest}`,
    ...outcome,
  };
  const summary = {
    created: `tagged ${repository}@${digest} as ${tag}`,
    moved: `moved ${repository}:${tag} from ${outcome.previousDigest} to ${digest}`,
    unchanged: `${repository}:${tag} already points to ${digest}; nothing to do`,
  }[outcome.change];
  ctx.reporter.result(summary, result);
  return result;
}
