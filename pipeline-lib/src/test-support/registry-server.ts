import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";

/** A running Distribution registry on loopback with htpasswd auth, for tests. */
export interface StartedRegistryServer extends AsyncDisposable {
  /** `127.0.0.1:<port>`: the registry part of an image repository. */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** What the registry printed, for diagnosing a failing test. */
  log(): string;
  stop(): Promise<void>;
}

export interface RegistryServerOptions {
  username?: string;
  /** Random by default. */
  password?: string;
  startupTimeoutMs?: number;
}

const REGISTRY_BINARY = "docker-registry";
const HTPASSWD_BINARY = "htpasswd";

/**
 * Starts Debian's `docker-registry` (Distribution 2.x) on 127.0.0.1 with a free
 * port, filesystem storage in a temp folder and one htpasswd user, and waits
 * until `/v2/` asks for credentials. Dispose of it to stop it and delete its data.
 */
export async function startRegistryServer(
  options: RegistryServerOptions = {},
): Promise<StartedRegistryServer> {
  requireBinary(REGISTRY_BINARY, "docker-registry");
  requireBinary(HTPASSWD_BINARY, "apache2-utils");
  const username = options.username ?? "pipeline";
  const password = options.password ?? randomBytes(18).toString("base64url");
  const dir = await mkdtemp(path.join(tmpdir(), "pipeline-registry-"));
  try {
    const htpasswd = spawnSync(HTPASSWD_BINARY, ["-Bbn", username, password], { encoding: "utf8" });
    if (htpasswd.status !== 0) {
      throw new Error(`htpasswd failed (exit ${htpasswd.status}): ${htpasswd.stderr.trim()}`);
    }
    await writeFile(path.join(dir, "htpasswd"), htpasswd.stdout);
    // A port can be taken between finding it free and the registry binding it; try again then.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(dir, await freePort(), { username, password }, options);
      } catch (error) {
        if (!(error instanceof PortTakenError) || attempt === 3) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

class PortTakenError extends Error {}

async function startOnce(
  dir: string,
  port: number,
  { username, password }: { username: string; password: string },
  { startupTimeoutMs = 15_000 }: RegistryServerOptions,
): Promise<StartedRegistryServer> {
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const configFile = path.join(dir, "config.yml");
  await writeFile(
    configFile,
    [
      "version: 0.1",
      "log:",
      "  level: info",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${JSON.stringify(path.join(dir, "data"))}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: ${host}`,
      `  secret: ${randomBytes(16).toString("hex")}`,
      "auth:",
      "  htpasswd:",
      "    realm: pipeline-test-registry",
      `    path: ${JSON.stringify(path.join(dir, "htpasswd"))}`,
      "",
    ].join("\n"),
  );
  const child = spawn(REGISTRY_BINARY, ["serve", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-20_000);
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  // A failed spawn emits "error" and never "exit"; either way the process is gone.
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => ((gone = true), resolve()));
    child.once("error", (error) => ((gone = true), collect(Buffer.from(error.message)), resolve()));
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await kill(child, () => gone, exited);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitForChallenge(
      url,
      () => gone,
      exited,
      startupTimeoutMs,
      () => output,
    );
  } catch (error) {
    await kill(child, () => gone, exited);
    if (/address already in use/.test(output)) throw new PortTakenError(output);
    throw error;
  }
  return {
    host,
    url,
    username,
    password,
    log: () => output,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function waitForChallenge(
  url: string,
  gone: () => boolean,
  exited: Promise<void>,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (gone()) {
      throw new Error(`docker-registry exited before answering on ${url}:\n${log()}`);
    }
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.status === 401) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await Promise.race([new Promise((r) => setTimeout(r, 100)), exited]);
  }
  throw new Error(
    `docker-registry did not answer 401 on ${url}/v2/ within ${timeoutMs}ms (last: ${last}):\n${log()}`,
  );
}

async function kill(
  child: ChildProcess,
  gone: () => boolean,
  exited: Promise<void>,
): Promise<void> {
  if (gone()) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

function requireBinary(binary: string, debianPackage: string): void {
  const found = spawnSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" });
  if (found.status !== 0) {
    throw new Error(
      `${binary} is not installed; the registry tests need it: apt-get install ${debianPackage} ` +
        `(infra's test setup script installs it)`,
    );
  }
}
