/**
 * What the service benches share: starting and stopping their processes,
 * Debian's packages, a throwaway Redis, wrk and its parsing, the CPU time a
 * server spends, and waiting for a quiet machine.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

export const run = promisify(execFile);
export const ROOT = path.resolve(import.meta.dirname, "..");

/** The options both service benches take (node:util parseArgs): rounds, their length, the load, the wait for quiet. */
export const ROUND_OPTIONS = {
  rounds: { type: "string", default: "3" },
  duration: { type: "string", default: "10" },
  connections: { type: "string", default: "50" },
  threads: { type: "string", default: "2" },
  warmup: { type: "string", default: "3" },
  "max-load": { type: "string", default: "0.7" },
  "round-wait-minutes": { type: "string", default: "3" },
} as const;

let prefix = "bench";
export const say = (line: string) => process.stderr.write(`[${prefix}] ${line}\n`);
export const load1 = () => loadavg()[0]!;

// ---- processes: started here, stopped here whatever happens --------------------------
const children: ChildProcess[] = [];
let stopping = false;

export function stopAll(): void {
  stopping = true;
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }
}

/** Names the bench in its progress lines and stops every child on exit, error or Ctrl-C. */
export function setUp(name: string): void {
  prefix = name;
  process.on("exit", stopAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      say(`${signal}: stopping the servers and Redis`);
      stopAll();
      process.exit(130);
    });
  }
}

export function start(
  name: string,
  command: string,
  argv: string[],
  env: Record<string, string>,
  stdoutFd?: number,
): ChildProcess {
  const child = spawn(command, argv, {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", stdoutFd ?? "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  child.once("exit", (code, signal) => {
    if (!stopping) say(`${name} exited early (${code ?? signal}): ${stderr}`);
  });
  children.push(child);
  return child;
}

export async function waitForHttp(url: string, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      await response.text();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/**
 * The node flags the image runs the service with (the CMD of service/Dockerfile,
 * `["node", ...flags, "service/dist/server.js"]`), so that the benches run it alike.
 */
export async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(path.join(ROOT, "service/Dockerfile"), "utf8");
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile);
  if (!cmd) throw new Error("service/Dockerfile has no CMD [...] line");
  return (JSON.parse(cmd[1]!) as string[]).slice(1, -1);
}

// ---- Debian's packages and a Redis of the bench's own ---------------------------------
export async function ensurePackages(packages: string[]): Promise<void> {
  say(`making sure ${packages.join(", ")} are installed`);
  await run(
    "bash",
    ["-c", `source infra/lib.sh && LOG_PREFIX=${prefix} apt_install ${packages.join(" ")}`],
    { cwd: ROOT },
  );
}

/** Starts redis-server without persistence on `port`, its files in `dir`; answers its version. */
export async function startRedis(port: number, dir: string): Promise<string> {
  start(
    "redis-server",
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"].concat([
      "--dir",
      dir,
    ]),
    {},
  );
  for (let i = 0; ; i++) {
    try {
      await run("redis-cli", ["-p", String(port), "ping"]);
      break;
    } catch (err) {
      if (i > 50) throw err;
      await sleep(100);
    }
  }
  return (await run("redis-server", ["--version"])).stdout.trim().split(" ").slice(0, 3).join(" ");
}

// ---- wrk ------------------------------------------------------------------------------
export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: string;
}

function toMs(value: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(value);
  if (!match) throw new Error(`cannot read the latency "${value}" from wrk`);
  const n = Number(match[1]);
  return { us: n / 1000, ms: n, s: n * 1000, m: n * 60_000 }[match[2] as "us" | "ms" | "s" | "m"];
}

export function parseWrk(output: string): WrkResult {
  const pick = (re: RegExp, what: string) => {
    const match = re.exec(output);
    if (!match) throw new Error(`wrk's output has no ${what}:\n${output}`);
    return match[1]!;
  };
  return {
    rps: Number(pick(/Requests\/sec:\s+([\d.]+)/, "Requests/sec")),
    p50Ms: toMs(pick(/^\s+50%\s+(\S+)/m, "50% latency")),
    p99Ms: toMs(pick(/^\s+99%\s+(\S+)/m, "99% latency")),
    requests: Number(pick(/(\d+) requests in/, "request count")),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0),
    errors: /Socket errors: (.*)/.exec(output)?.[1] ?? "",
  };
}

export interface LoadOptions {
  threads: number;
  connections: number;
}

/** wrk against `url` for `seconds`, with the CPU seconds `pids` spent meanwhile. */
export async function wrk(
  url: string,
  seconds: number,
  options: LoadOptions,
  pids: number[] = [],
): Promise<WrkResult & { cpuSeconds: number }> {
  const cpuBefore = await cpuSeconds(pids);
  const { stdout } = await run(
    "wrk",
    [`-t${options.threads}`, `-c${options.connections}`, `-d${seconds}s`, "--latency", url],
    { maxBuffer: 1 << 20 },
  );
  const cpuAfter = await cpuSeconds(pids);
  return { ...parseWrk(stdout), cpuSeconds: cpuAfter - cpuBefore };
}

const CLOCK_TICKS = 100; // USER_HZ, 100 on Linux on every architecture Node runs on

/** User plus system CPU time of the processes, from /proc (0 for one that is gone). */
export async function cpuSeconds(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    // The fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0); // utime, stime
  }
  return ticks / CLOCK_TICKS;
}

/** The process and its children (gunicorn's workers). */
export async function withChildren(pid: number): Promise<number[]> {
  const { stdout } = await run("pgrep", ["-P", String(pid)]).catch(() => ({ stdout: "" }));
  return [pid, ...stdout.split("\n").filter(Boolean).map(Number)];
}

export async function waitForQuiet(maxLoad: number, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  let announced = false;
  while (load1() >= maxLoad && Date.now() < deadline) {
    if (!announced)
      say(
        `load average ${load1().toFixed(2)} ≥ ${maxLoad}; waiting (up to ${waitMs / 60_000} min)`,
      );
    announced = true;
    await sleep(10_000);
  }
  if (load1() >= maxLoad) say(`load average still ${load1().toFixed(2)}; measuring anyway`);
  return load1();
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
export const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : "—");
