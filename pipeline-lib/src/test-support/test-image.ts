import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { baseImages } from "./base-images.js";

/** A freshly built local image, tagged under a repository, for push tests. */
export interface TestImage extends AsyncDisposable {
  readonly id: string;
  readonly repository: string;
  readonly tags: readonly string[];
}

/**
 * Builds a tiny image on the base Node.js image with a unique file and label, so every
 * run pushes a manifest with a fresh digest, and tags it `repository:tag`
 * for each tag. Disposing removes the image and its tags.
 */
export async function buildTestImage(
  repository: string,
  tags: readonly string[],
  docker: Docker = new Docker(),
): Promise<TestImage> {
  const base = (await baseImages()).node;
  const run = randomUUID();
  const dir = await mkdtemp(path.join(tmpdir(), "pipeline-test-image-"));
  try {
    await writeFile(path.join(dir, "Dockerfile"), `FROM ${base}\nCOPY run.txt /run.txt\n`);
    await writeFile(path.join(dir, "run.txt"), `${run}\n`);
    const stream = await docker.buildImage(
      { context: dir, src: ["Dockerfile", "run.txt"] },
      { t: `${repository}:${tags[0]}`, labels: { "pipeline-lib.test-run": run }, rm: true },
    );
    const events = await new Promise<{ error?: string }[]>((resolve, reject) =>
      docker.modem.followProgress(stream, (error: Error | null, output: { error?: string }[]) =>
        error ? reject(error) : resolve(output),
      ),
    );
    const failed = events.find((e) => e.error);
    if (failed) throw new Error(`building the test image from ${base} failed: ${failed.error}`);
    const id = (await docker.getImage(`${repository}:${tags[0]}`).inspect()).Id;
    for (const tag of tags.slice(1)) await docker.getImage(id).tag({ repo: repository, tag });
    return {
      id,
      repository,
      tags,
      [Symbol.asyncDispose]: async () => {
        for (const tag of tags) {
          await docker
            .getImage(`${repository}:${tag}`)
            .remove()
            .catch(() => undefined);
        }
        await docker
          .getImage(id)
          .remove({ force: true })
          .catch(() => undefined);
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
