import path from "node:path";
import type Docker from "dockerode";
import {
  DEFAULT_ARTIFACT_FILE,
  readArtifact,
  writeArtifact,
  type BuildArtifact,
} from "../artifact/build-artifact.js";
import { ImagePusher } from "../engine/image-pusher.js";
import { StageError } from "../errors.js";
import { systemClock, type Clock } from "../output/reporter.js";
import type { ImageRegistry } from "../registry/image-registry.js";
import {
  resolveRegistryTarget,
  type RegistryTarget,
  type RegistryTargetDeps,
} from "../registry/registry-target.js";
import type { CommandContext } from "./context.js";

export interface PushOptions {
  /** The build artifact to push and update; relative to the working directory. */
  artifact: string;
}

export interface PushDeps extends RegistryTargetDeps {
  docker: Docker;
  clock: Clock;
}

export interface PushResult {
  repository: string;
  tags: string[];
  digest: string;
  imageRef: string;
  pushedAt: string;
  /** True when the image came from the registry (build --reuse) and was only tagged there. */
  reused: boolean;
  artifact: string;
}

/**
 * Pushes every tag of the built image, confirms through the registry API that
 * the content tag now names the digest the Engine reported, and only then
 * records `digest`, `imageRef` and `pushedAt` in the artifact, so a failed
 * push leaves the artifact as it was.
 */
export async function push(
  options: PushOptions,
  ctx: CommandContext,
  deps: Partial<PushDeps> = {},
): Promise<PushResult> {
  const file = path.resolve(ctx.cwd, options.artifact || DEFAULT_ARTIFACT_FILE);
  const artifact = await readArtifact(file);
  const config = await ctx.config();
  const { repository } = artifact;
  if (repository !== config.image.repository) {
    ctx.reporter.warn(
      `${file} is for ${repository}, but ${config.file} says image.repository is ` +
        `${config.image.repository}; pushing ${repository} with the configured registry auth`,
    );
  }
  const target = resolveRegistryTarget(config, ctx.env, deps, repository);
  const contentTag = artifact.tags[0]!;

  const digest = artifact.reused
    ? await tagReusedImage(artifact, target.registry, ctx)
    : await pushImage(artifact, target, ctx, deps);

  // The Engine's word is not proof: ask the registry what the content tag names now.
  const served = await target.registry.resolveTag(contentTag);
  if (served !== digest) {
    throw new StageError(
      `registry ${target.reference.registry} reports ${repository}:${contentTag} as ${served ?? "missing"} ` +
        `after pushing ${digest}; not recording the push in ${file}`,
    );
  }

  const pushedAt = new Date((deps.clock ?? systemClock).now()).toISOString();
  const imageRef = `${repository}@${digest}`;
  await writeArtifact(file, { ...artifact, digest, imageRef, pushedAt });
  const result: PushResult = {
    repository,
    tags: artifact.tags,
    digest,
    imageRef,
    pushedAt,
    reused: artifact.reused,
    artifact: file,
  };
  ctx.reporter.result(
    `pushed ${imageRef}\n  tags: ${artifact.tags.join(", ")}\n  recorded in ${file}`,
    result,
  );
  return result;
}

async function pushImage(
  artifact: BuildArtifact,
  { reference, auth }: RegistryTarget,
  ctx: CommandContext,
  deps: Partial<PushDeps>,
): Promise<string> {
  const credentials = await auth.credentials();
  ctx.reporter.progress(
    `pushing ${artifact.tags.length} tag(s) of ${reference.repository} to ${reference.registry} ` +
      `(auth: ${auth.description})`,
  );
  const pusher = new ImagePusher(deps.docker, deps.clock);
  const { digest } = await pusher.push({
    reference,
    tags: artifact.tags,
    credentials,
    reporter: ctx.reporter,
  });
  return digest;
}

/**
 * `build --reuse` found the image in the registry and did not build it, so
 * there may be nothing local to push: add the other tags in the registry.
 */
async function tagReusedImage(
  artifact: BuildArtifact,
  registry: ImageRegistry,
  ctx: CommandContext,
): Promise<string> {
  const [contentTag, ...others] = artifact.tags;
  ctx.reporter.progress(
    `${artifact.repository}:${contentTag} was reused from the registry; tagging it there instead of pushing`,
  );
  const digest = await registry.resolveTag(contentTag!);
  if (!digest) {
    throw new StageError(
      `the artifact says ${artifact.repository}:${contentTag} was reused from the registry, ` +
        `but the registry no longer has that tag; run \`pipeline build\` without --reuse`,
    );
  }
  for (const tag of others) {
    const { change } = await registry.tagManifest(digest, tag);
    ctx.reporter.progress(`tag ${tag}: ${change}`);
  }
  return digest;
}
