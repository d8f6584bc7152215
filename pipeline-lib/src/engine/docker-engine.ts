import type Docker from "dockerode";
import { StageError } from "../errors.js";

/** Where dockerode is pointed, for messages: the socket path or host:port. */
export function engineAddress(docker: Docker): string {
  const modem = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown };
  if (typeof modem.socketPath === "string") return modem.socketPath;
  return `${String(modem.host)}:${String(modem.port)}`;
}

/** Fails with a message that says how to start the engine when it does not answer. */
export async function assertEngineReachable(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    throw new StageError(
      `cannot reach the Docker Engine at ${engineAddress(docker)} (${(error as Error).message}); ` +
        `start it (bash infra/docker/ensure-engine.sh) or point DOCKER_HOST at a running engine`,
      { cause: error },
    );
  }
}
