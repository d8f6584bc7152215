/**
 * What the service benches share: starting and stopping their processes,
 * Debian's packages, a throwaway Redis, wrk and its parsing, the CPU time a
 * server spends, and waiting for a quiet machine.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
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
  "wait-load-minutes": { type: "string", default: "15" },
  "round-wait-minutes": { type: "string", default: "3" },
} as const;

export interface RoundSettings extends LoadOptions {
  rounds: number;
  durationS: number;
  warmupS: number;
  maxLoad: number;
  /** How long to wait for a quiet machine before the first round, and before each later one. */
  waitLoadMs: number;
  roundWaitMs: number;
}

/** ROUND_OPTIONS as parsed by parseArgs, as numbers. */
export function roundSettings(args: { [K in keyof typeof ROUND_OPTIONS]: string }): RoundSettings {
  return {
    rounds: Number(args.rounds),
    durationS: Number(args.duration),
    threads: Number(args.threads),
    connections: Number(args.connections),
    warmupS: Number(args.warmup),
    maxLoad: Number(args["max-load"]),
    waitLoadMs: Number(args["wait-load-minutes"]) * 60_000,
    roundWaitMs: Number(args["round-wait-minutes"]) * 60_000,
  };
}

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

/** The node flags the image runs the service with (bench/image-node-flags.sh reads them). */
export async function imageNodeFlags(): Promise<string[]> {
  const { stdout } = await run("bash", [path.join(ROOT, "bench/image-node-flags.sh")]);
  return stdout.split("\n").filter(Boolean);
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
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
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

/** What `runRounds` loads: a URL, and the processes whose CPU time it serves from. */
export interface RoundTarget {
  label: string;
  url: string;
  pids: number[];
}
export type Measured = WrkResult & {
  cpuSeconds: number;
  /** CPU per request answered. */ cpuUs: number;
};

/** A short warm-up of every target, each result passed to `onResult`. */
export async function warmUp<T extends RoundTarget>(
  targets: T[],
  settings: RoundSettings,
  onResult: (target: T, result: WrkResult) => void = () => {},
): Promise<void> {
  say(`warming up: ${settings.warmupS} s per target`);
  for (const t of targets) onResult(t, await wrk(t.url, settings.warmupS, settings));
}

/**
 * Loads every target in turn, round after round, the order rotating each
 * round, after waiting for a quiet machine before each round. Answers every
 * target's results, the load averages before each round and at the end, and
 * when the rounds started.
 */
export async function runRounds<T extends RoundTarget>(
  targets: T[],
  settings: RoundSettings,
  onResult: (target: T, result: Measured) => void = () => {},
): Promise<{ results: Map<T, Measured[]>; loads: number[]; startedAt: Date }> {
  const { rounds, maxLoad } = settings;
  const loads = [await waitForQuiet(maxLoad, settings.waitLoadMs)];
  const startedAt = new Date();
  const results = new Map<T, Measured[]>(targets.map((t) => [t, []]));
  for (let round = 0; round < rounds; round++) {
    if (round > 0) loads.push(await waitForQuiet(maxLoad, settings.roundWaitMs));
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const t of order) {
      const raw = await wrk(t.url, settings.durationS, settings, t.pids);
      const result = { ...raw, cpuUs: (raw.cpuSeconds * 1e6) / raw.requests };
      results.get(t)!.push(result);
      onResult(t, result);
      say(
        `round ${round + 1}/${rounds} ${t.label}: ${result.rps.toFixed(0)} req/s, ` +
          `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${result.cpuUs.toFixed(1)} µs CPU per request` +
          (result.non2xx ? `, ${result.non2xx} non-2xx` : "") +
          (/[1-9]/.test(result.errors) ? `, socket errors ${result.errors}` : ""),
      );
    }
  }
  loads.push(load1());
  return { results, loads, startedAt };
}

/** The run's first two report lines: when, on what, and the load averages. */
export function describeRun(startedAt: Date, loads: number[], redisVersion: string): string[] {
  return [
    `${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC, ` +
      `${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, Node ${process.version}, ${redisVersion}`,
    `load average (1 min) before each round and at the end: ${loads.map((l) => l.toFixed(2)).join(", ")}`,
  ];
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
