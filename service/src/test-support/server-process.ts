import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const SERVER_ENTRY = fileURLToPath(new URL("../server.ts", import.meta.url));

export interface ServerProcess extends AsyncDisposable {
  child: ChildProcess;
  /** Parsed JSON log lines from stdout so far. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Resolves with the port once the server logs that it listens. */
  listening: Promise<number>;
}

/** Runs the real server entry (src/server.ts through tsx) as a child process. */
export function startServerProcess(env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, ["--import", "tsx", SERVER_ENTRY], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  let pending = "";
  let onListening: (port: number) => void = () => {};
  const listening = new Promise<number>((resolve) => (onListening = resolve));

  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (typeof entry.port === "number" && String(entry.msg).startsWith("listening")) {
        onListening(entry.port);
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));

  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    listening: Promise.race([
      listening,
      exited.then((code) => {
        throw new Error(`server exited with ${code} before listening; stderr: ${stderr}`);
      }),
    ]),
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}
