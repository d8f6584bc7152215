import Docker from "dockerode";
import type { Readable } from "node:stream";
import { StageError } from "../errors.js";
import { assertEngineReachable } from "./docker-engine.js";

export interface BuildRequest {
  /**
   * Makes the context tar. Called only once the engine answers, so a failure
   * before the build never leaves a half-read stream behind.
   */
  context: () => Promise<Readable>;
  /** The Dockerfile, relative to the context. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  /** Full references to tag the result with: `repository:tag`. */
  tags: readonly string[];
  /** Called with each build step ("Step 3/9 : RUN npm ci"). */
  onStep?: (line: string) => void;
  /** Called with every other line of build output. */
  onOutput?: (line: string) => void;
}

export interface BuiltImage {
  /** The image id (`sha256:…`). */
  id: string;
}

export interface ImageBuilder {
  build(request: BuildRequest): Promise<BuiltImage>;
  /** The id of a local image, or undefined when the engine does not have it. */
  inspect(reference: string): Promise<string | undefined>;
}

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

const STEP = /^Step \d+\/\d+ : /;
const OUTPUT_LINES_IN_ERRORS = 15;

/** Builds through the Docker Engine API (dockerode), the way `docker build` does. */
export class DockerImageBuilder implements ImageBuilder {
  constructor(private readonly docker: Docker = new Docker()) {}

  async build(request: BuildRequest): Promise<BuiltImage> {
    await assertEngineReachable(this.docker);
    const [first, ...others] = request.tags;
    const context = await request.context();
    let contextError: Error | undefined;
    // A file that vanishes or cannot be read while the context streams.
    context.on("error", (error: Error) => (contextError ??= error));
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.buildImage(context, {
        dockerfile: request.dockerfile,
        buildargs: request.buildArgs,
        labels: request.labels,
        t: first,
        rm: true,
        forcerm: true,
      });
    } catch (error) {
      context.destroy();
      throw new StageError(`the Docker Engine refused the build: ${(error as Error).message}`, {
        cause: error,
      });
    }

    let step = "";
    let imageId: string | undefined;
    let failure: string | undefined;
    const recent: string[] = [];
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (error: Error | null) => (error ? reject(error) : resolve()),
        (event: BuildEvent) => {
          if (event.aux?.ID) imageId = event.aux.ID;
          if (event.error || event.errorDetail) {
            failure = event.errorDetail?.message ?? event.error;
          }
          const text = event.stream ?? event.status;
          for (const line of text?.split("\n") ?? []) {
            if (line.trim() === "") continue;
            if (STEP.test(line)) {
              step = line;
              request.onStep?.(line);
            } else {
              recent.push(line);
              if (recent.length > OUTPUT_LINES_IN_ERRORS) recent.shift();
              request.onOutput?.(line);
              const built = /^Successfully built ([0-9a-f]+)$/.exec(line);
              if (built && !imageId) imageId = built[1];
            }
          }
        },
      );
    });

    if (contextError) {
      throw new StageError(`cannot send the build context: ${contextError.message}`, {
        cause: contextError,
      });
    }
    if (failure !== undefined) {
      const at = step ? ` at ${step.replace(/ : /, " (").replace(/$/, ")")}` : "";
      const output = recent.length ? `\nlast build output:\n  ${recent.join("\n  ")}` : "";
      throw new StageError(`image build failed${at}: ${failure.trim()}${output}`);
    }
    if (!imageId) throw new StageError("image build finished without reporting an image id");

    const image = this.docker.getImage(imageId);
    const id = ((await image.inspect()) as { Id: string }).Id;
    for (const ref of others) {
      const { repo, tag } = splitReference(ref);
      await image.tag({ repo, tag });
    }
    return { id };
  }

  async inspect(reference: string): Promise<string | undefined> {
    try {
      return ((await this.docker.getImage(reference).inspect()) as { Id: string }).Id;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }
}

/** `host:5000/app:tag` → `{ repo: "host:5000/app", tag: "tag" }`. */
export function splitReference(ref: string): { repo: string; tag: string } {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: "latest" };
}
