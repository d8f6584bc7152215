import path from "node:path";
import { writeArtifact, type BuildArtifact } from "../artifact/build-artifact.js";
import { readCiEnv } from "../ci/ci-env.js";
import type { PipelineConfig } from "../config/schema.js";
import { packContext, listContextFiles } from "../engine/build-context.js";
import { git } from "../image/git.js";
import { DockerImageBuilder, type ImageBuilder } from "../engine/image-builder.js";
import { contentTag, imageTags } from "../image/tags.js";
import { treeHashOf } from "../image/tree-hash.js";
import type { CommandContext } from "./context.js";

export interface BuildOptions {
  /** Where to write the build artifact. */
  artifact: string;
  /** Skip the build when the registry already has an image for these inputs. */
  reuse: boolean;
  /** An extra CA bundle for builds behind TLS inspection (see packContext). */
  extraCa?: string;
  /** Extra `--build-arg NAME=value` pairs; they win over the config's. */
  buildArgs: Record<string, string>;
}

/** Looks up a tag in the registry; undefined when absent. */
export type TagLookup = (config: PipelineConfig, tag: string) => Promise<string | undefined>;

/**
 * Whether an image may be reused for production: its signed evidence holds
 * everything production requires (checked as `deploy --env production` will).
 */
export type ReuseCheck = (
  config: PipelineConfig,
  image: string,
) => Promise<{ ok: boolean; missing: string[]; builtFrom: string | undefined; evidence: string }>;

export interface BuildDeps {
  builder: ImageBuilder;
  lookupTag: TagLookup;
  checkReuse: ReuseCheck;
  now: () => Date;
}

export interface BuildResult {
  artifact: BuildArtifact;
  artifactFile: string;
}

export async function build(
  options: BuildOptions,
  ctx: CommandContext,
  deps: Partial<BuildDeps> = {},
): Promise<BuildResult> {
  const { reporter } = ctx;
  const config = await ctx.config();
  const now = deps.now ?? (() => new Date());
  const { contextDir, dockerfilePath, repository } = config.image;
  const dockerfile = path.relative(contextDir, dockerfilePath).split(path.sep).join("/");

  const source = await describeSource(ctx.env, contextDir);
  const files = await listContextFiles(contextDir, dockerfile);
  const treeHash = await treeHashOf(contextDir, files);
  const tags = imageTags({ treeHash, branch: source.branch, buildNumber: source.buildNumber });
  reporter.progress(`build inputs: ${files.length} files, tree ${treeHash}`);

  const artifactFile = path.resolve(ctx.cwd, options.artifact);
  const base = {
    schemaVersion: 1 as const,
    app: config.app.name,
    repository,
    treeHash,
    tags,
    ...source,
    builtAt: now().toISOString(),
  };

  if (options.reuse) {
    const lookupTag = deps.lookupTag ?? (await defaultTagLookup(ctx.env));
    reporter.progress(`looking for ${repository}:${contentTag(treeHash)} in the registry`);
    const digest = await lookupTag(config, contentTag(treeHash));
    // The tag is mutable and any build may push it: reuse only what carries
    // signed evidence that it was tested and verified.
    const check =
      digest &&
      (await (deps.checkReuse ?? productionReuseCheck(ctx.env))(config, `${repository}@${digest}`));
    if (digest && check && check.ok) {
      const artifact = await writeArtifact(artifactFile, {
        ...base,
        reused: true,
        digest,
        imageRef: `${repository}@${digest}`,
        ...(check.builtFrom ? { imageCommit: check.builtFrom } : {}),
      });
      reporter.result(
        `reused ${repository}@${digest} (same inputs, not rebuilt; ${check.evidence})`,
        artifact,
      );
      return { artifact, artifactFile };
    }
    reporter.progress(
      check
        ? `${repository}@${digest} has these inputs, but production would refuse it (${check.missing.join("; ")}); building here`
        : "no image for these inputs yet; building",
    );
  }

  const builder = deps.builder ?? new DockerImageBuilder();
  const extraCa = options.extraCa ?? ctx.env.PIPELINE_EXTRA_CA_FILE ?? ctx.env.NODE_EXTRA_CA_CERTS;
  if (extraCa) reporter.detail(`adding extra CA bundle ${extraCa} to the build context`);

  const builtAt = base.builtAt;
  const labels = {
    "org.opencontainers.image.title": config.app.name,
    "org.opencontainers.image.created": builtAt,
    "org.opencontainers.image.version": source.version,
    ...(source.gitCommit && { "org.opencontainers.image.revision": source.gitCommit }),
    ...(config.app.sourceUrl && { "org.opencontainers.image.source": config.app.sourceUrl }),
    "dev.pipeline-lib.tree-hash": treeHash,
  };
  const buildArgs = {
    APP_VERSION: source.version,
    BUILD_TIME: builtAt,
    ...(source.gitCommit && { GIT_COMMIT: source.gitCommit }),
    ...(config.app.sourceUrl && { SOURCE_URL: config.app.sourceUrl }),
    ...config.image.buildArgs,
    ...options.buildArgs,
  };

  reporter.progress(
    `building ${repository}:${tags[0]} from ${path.relative(ctx.cwd, dockerfilePath) || dockerfile}`,
  );
  const image = await builder.build({
    context: async () =>
      (await packContext({ contextDir, dockerfile, files, extraCaFile: extraCa || undefined })).tar,
    dockerfile,
    buildArgs,
    labels,
    tags: tags.map((t) => `${repository}:${t}`),
    onStep: (line) => reporter.status(line),
    onOutput: (line) => reporter.detail(line),
  });

  const artifact = await writeArtifact(artifactFile, { ...base, imageId: image.id, reused: false });
  reporter.result(
    `built ${tags.map((t) => `${repository}:${t}`).join(", ")} (${image.id})\nartifact: ${artifactFile}`,
    artifact,
  );
  return { artifact, artifactFile };
}

interface SourceInfo {
  gitCommit?: string;
  branch?: string;
  buildNumber?: string;
  buildUrl?: string;
  version: string;
}

/** Jenkins' variables when present, else what git says about the build context. */
async function describeSource(env: NodeJS.ProcessEnv, contextDir: string): Promise<SourceInfo> {
  const ci = readCiEnv(env);
  const fromGit = async (args: string[]) => git(args, { cwd: contextDir }).catch(() => undefined);
  const gitCommit = ci.gitCommit ?? (await fromGit(["rev-parse", "HEAD"]));
  const headBranch = await fromGit(["rev-parse", "--abbrev-ref", "HEAD"]);
  const branch = ci.branch ?? (headBranch && headBranch !== "HEAD" ? headBranch : undefined);
  const described = await fromGit(["describe", "--tags", "--always", "--dirty"]);
  return {
    gitCommit,
    branch,
    buildNumber: ci.buildNumber,
    buildUrl: ci.buildUrl,
    version: described ?? gitCommit?.slice(0, 12) ?? "unknown",
  };
}

async function defaultTagLookup(env: NodeJS.ProcessEnv): Promise<TagLookup> {
  const { resolveRegistryTarget } = await import("../registry/registry-target.js");
  return async (config, tag) => resolveRegistryTarget(config, env).registry.resolveTag(tag);
}

function productionReuseCheck(env: NodeJS.ProcessEnv): ReuseCheck {
  return async (config, image) => {
    const { checkImageEvidence, describeEvidence } = await import("../evidence/gate.js");
    const gate = await checkImageEvidence(config, env, "production", image);
    return {
      ok: gate.verdict.ok,
      missing: gate.verdict.missing,
      builtFrom: gate.summary.builtFrom?.commit,
      evidence: describeEvidence(gate.summary),
    };
  };
}
