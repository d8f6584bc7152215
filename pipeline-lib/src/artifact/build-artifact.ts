import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "../errors.js";

export const DEFAULT_ARTIFACT_FILE = "build.json";

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be a sha256: digest");

/**
 * The record of one built image that travels between stages (and between the
 * dev and prod pipelines, archived by Jenkins): what was built from which tree,
 * and once pushed, the digest that every later stage deploys.
 */
export const buildArtifactSchema = z.object({
  schemaVersion: z.literal(1),
  app: z.string(),
  repository: z.string(),
  /** The git tree hash of the build inputs; the content tag is derived from it. */
  treeHash: z.string().regex(/^[0-9a-f]{40}$/),
  /** Tags given to the image: the content tag first. */
  tags: z.array(z.string()).min(1),
  /** The local image id; absent when the build was skipped with --reuse. */
  imageId: digest.optional(),
  /** A human-readable version (`git describe`), baked into the image as APP_VERSION. */
  version: z.string().optional(),
  gitCommit: z.string().optional(),
  branch: z.string().optional(),
  buildNumber: z.string().optional(),
  buildUrl: z.string().optional(),
  builtAt: z.string(),
  /** True when the image was found in the registry and not rebuilt. */
  reused: z.boolean(),
  /** Set by `pipeline push`. */
  digest: digest.optional(),
  /** `repository@digest`, set by `pipeline push`. */
  imageRef: z.string().optional(),
  pushedAt: z.string().optional(),
  /** The commit the image was built from, when it was reused (from its signed provenance). */
  imageCommit: z.string().optional(),
  /**
   * Set by `pipeline test`: the contract checks it ran against `imageId`;
   * `pipeline attest` signs them for the pushed digest whose config is that image.
   */
  tests: z
    .object({
      imageId: digest,
      finishedAt: z.string(),
      checks: z.array(
        z.object({
          name: z.string(),
          passed: z.boolean(),
          durationMs: z.number(),
          failure: z.string().optional(),
        }),
      ),
    })
    .optional(),
});

export type BuildArtifact = z.infer<typeof buildArtifactSchema>;

export async function readArtifact(file: string): Promise<BuildArtifact> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `cannot read build artifact ${file}; run \`pipeline build\` first or pass --artifact <file>`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`build artifact ${file} is not valid JSON`, { cause: error });
  }
  const parsed = buildArtifactSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      `build artifact ${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  }
  return parsed.data;
}

/**
 * Writes atomically, so a reader never sees half a file, and returns what was
 * written (validated, without undefined fields).
 */
export async function writeArtifact(file: string, artifact: BuildArtifact): Promise<BuildArtifact> {
  const text = `${JSON.stringify(buildArtifactSchema.parse(artifact), null, 2)}\n`;
  const tmp = `${file}.${process.pid}.tmp`;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(tmp, text);
  await rename(tmp, file);
  return JSON.parse(text) as BuildArtifact;
}
