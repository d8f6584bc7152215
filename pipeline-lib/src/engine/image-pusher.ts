import Docker from "dockerode";
import { assertEngineReachable } from "./docker-engine.js";
import { StageError } from "../errors.js";
import { systemClock, type Clock, type Reporter } from "../output/reporter.js";
import type { RepositoryReference } from "../reference/image-reference.js";

/**
 * Docker's AuthConfig, which the Engine takes as X-Registry-Auth: what
 * `docker login` stores. The registry adapters' credentials have this shape.
 */
export interface EngineAuthConfig {
  readonly username: string;
  readonly password: string;
  /** The registry these are for: `127.0.0.1:5000`, `https://<account>.dkr.ecr.<region>.amazonaws.com`. */
  readonly serveraddress: string;
}

export interface PushImageOptions {
  /** `127.0.0.1:5000/visit-counter`, parsed; each `repository:tag` must exist in the local Engine. */
  reference: RepositoryReference;
  tags: readonly string[];
  /** Undefined pushes anonymously (or with whatever the Engine already has). */
  credentials: EngineAuthConfig | undefined;
  reporter: Reporter;
}

export interface PushedImage {
  /** The manifest digest the registry reported for the first tag. */
  digest: string;
  /** Per tag, the digest the registry reported. */
  digests: Record<string, string>;
}

/** One line of the Engine's push stream (a JSON message). */
interface PushEvent {
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Tag?: string; Digest?: string; Size?: number };
}

const DONE = /^(Pushed|Layer already exists|Mounted from )/;
const NOT_LOCAL = /tag does not exist|does not exist locally|no such image/i;
const AUTH_FAILURE = /unauthori[sz]ed|denied|authentication required|no basic auth credentials/i;
/** How often, at most, a long push says how far it got. */
const PROGRESS_EVERY_MS = 5_000;

/** Pushes tags through the Docker Engine API and reports the digest the registry assigned. */
export class ImagePusher {
  constructor(
    private readonly docker: Docker = new Docker(),
    private readonly clock: Clock = systemClock,
  ) {}

  async push({ reference, tags, credentials, reporter }: PushImageOptions): Promise<PushedImage> {
    const { repository, registry } = reference;
    await assertEngineReachable(this.docker);
    const digests: Record<string, string> = {};
    for (const tag of tags) {
      digests[tag] = await this.#pushTag(repository, registry, tag, credentials, reporter);
    }
    const digest = digests[tags[0]!]!;
    const others = Object.entries(digests).filter(([, d]) => d !== digest);
    if (others.length > 0) {
      // One local image, one repository: a different digest means the registry rewrote something.
      reporter.warn(
        `tags of ${repository} got different digests: ` +
          Object.entries(digests)
            .map(([t, d]) => `${t}=${d}`)
            .join(", "),
      );
    }
    return { digest, digests };
  }

  async #pushTag(
    repository: string,
    registry: string,
    tag: string,
    credentials: EngineAuthConfig | undefined,
    reporter: Reporter,
  ): Promise<string> {
    const ref = `${repository}:${tag}`;
    reporter.progress(`pushing ${ref}`);
    let stream: NodeJS.ReadableStream;
    try {
      // Always name the tag: without one the Engine pushes every tag of the repository.
      stream = await this.docker
        .getImage(repository)
        .push({ tag, ...(credentials ? { authconfig: credentials } : {}) });
    } catch (error) {
      throw engineFailure(ref, error);
    }

    const layers = new Map<string, string>();
    let digest: string | undefined;
    let failure: string | undefined;
    let lastProgress = this.clock.now();
    const onEvent = (event: PushEvent) => {
      if (event.errorDetail || event.error) {
        failure ??= event.errorDetail?.message ?? event.error;
        return;
      }
      if (event.aux?.Digest) digest = event.aux.Digest;
      if (!event.id || !event.status || event.id === tag) {
        if (event.status) reporter.detail(event.status);
        return;
      }
      // Byte-level ticks repeat the same status; only changes are worth a line.
      if (layers.get(event.id) === event.status) return;
      layers.set(event.id, event.status);
      reporter.detail(`${event.id}: ${event.status}`);
      if (DONE.test(event.status) && this.clock.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = this.clock.now();
        reporter.status(`pushing ${ref}: ${countDone(layers)}/${layers.size} layers done`);
      }
    };
    try {
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream,
          (error: Error | null) => (error ? reject(error) : resolve()),
          onEvent,
        );
      });
    } catch (error) {
      throw new StageError(`push of ${ref} to ${registry} broke off: ${(error as Error).message}`, {
        cause: error,
      });
    }

    if (failure !== undefined && NOT_LOCAL.test(failure)) {
      // The Engine answers 404 for an unknown repository, but reports an unknown tag in the stream.
      throw notLocal(ref);
    }
    if (failure !== undefined) {
      throw new StageError(
        AUTH_FAILURE.test(failure)
          ? `push to ${registry} was refused: ${failure} (pushing ${ref}; check the registry credentials)`
          : `push of ${ref} to ${registry} failed: ${failure}`,
      );
    }
    if (!digest) {
      throw new StageError(`push of ${ref} to ${registry} finished without reporting a digest`);
    }
    const statuses = [...layers.values()];
    const pushed = statuses.filter((s) => s === "Pushed").length;
    reporter.progress(
      `pushed ${ref} (${digest}; ${layers.size} layers: ${pushed} uploaded, ` +
        `${layers.size - pushed} already in the registry)`,
    );
    return digest;
  }
}

function countDone(layers: Map<string, string>): number {
  return [...layers.values()].filter((s) => DONE.test(s)).length;
}

function notLocal(ref: string, cause?: unknown): StageError {
  return new StageError(
    `image ${ref} is not in the local Docker Engine; run \`pipeline build\` first`,
    cause === undefined ? undefined : { cause },
  );
}

function engineFailure(ref: string, error: unknown): StageError {
  const { statusCode, code, message } = error as {
    statusCode?: number;
    code?: string;
    message?: string;
  };
  if (statusCode === 404) return notLocal(ref, error);
  if (code === "ECONNREFUSED" || code === "ENOENT" || code === "EACCES") {
    return new StageError(
      `cannot reach the Docker Engine to push ${ref} (${code}); is it running, and is DOCKER_HOST right?`,
      { cause: error },
    );
  }
  return new StageError(`the Docker Engine refused to push ${ref}: ${message ?? String(error)}`, {
    cause: error,
  });
}
