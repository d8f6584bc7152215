/**
 * Throughput of the visit counter against two anchors, on this machine, in one
 * run, against one Redis, with one load generator (Debian's wrk):
 *   - ours: the built service (service/dist/server.js) as the image runs it
 *     (`node --enable-source-maps`, NODE_ENV=production) with its own defaults
 *     (LOG_LEVEL=info: an access-log line per request; metrics; security
 *     headers), against Redis;
 *   - Flask: the Docker Compose getting-started counter (bench/flask_counter.py)
 *     under gunicorn with 2 sync workers, from Debian's packages;
 *   - bare: node:http plus one ioredis INCR (bench/bare-counter.ts), the
 *     ceiling for this stack.
 * After a warm-up, every server and route is loaded in turn, round after
 * round (the order rotates each round), with `wrk -t2 -c50 -d10s --latency`.
 * Prints a Markdown table of medians and the ratios ours/Flask and ours/bare.
 *
 *   npx tsx bench/service-bench.ts [--rounds 3] [--duration 10] [--connections 50]
 *       [--max-load 0.7] [--wait-load-minutes 15] [--round-wait-minutes 3]
 *       [--service-entry service/dist/server.js]
 *       [--log-file PATH | --log-file /dev/null] [--before-entry OTHER/server.js]
 *
 * Installs wrk, redis-server, gunicorn, python3-flask and python3-redis with
 * apt when they are missing (as root), and builds the service (tsc -b) unless
 * --service-entry names another build. Our service's stdout (its JSON log)
 * goes to a temporary file by default, which the bench counts afterwards; in
 * production it goes to stdout, a pipe read by the container runtime.
 * --before-entry adds a fourth server, another build of the service (say, the
 * commit before an optimisation) run the same way with its own key prefix and
 * log file, so that before and after are measured in the same run.
 * Everything started is stopped on exit, on an error and on Ctrl-C.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createReadStream, openSync, closeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, cpus, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { freePort } from "../service/src/test-support/free-port.js";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    threads: { type: "string", default: "2" },
    warmup: { type: "string", default: "3" },
    "max-load": { type: "string", default: "0.7" },
    "wait-load-minutes": { type: "string", default: "15" },
    "round-wait-minutes": { type: "string", default: "3" },
    "service-entry": { type: "string" },
    "log-file": { type: "string" },
    "before-entry": { type: "string" },
    label: { type: "string", default: "" },
  },
});
const rounds = Number(args.rounds);
const durationS = Number(args.duration);
const connections = Number(args.connections);
const threads = Number(args.threads);
const warmupS = Number(args.warmup);
const maxLoad = Number(args["max-load"]);
const waitLoadMs = Number(args["wait-load-minutes"]) * 60_000;
const roundWaitMs = Number(args["round-wait-minutes"]) * 60_000;

const say = (line: string) => process.stderr.write(`[service-bench] ${line}\n`);
const load1 = () => loadavg()[0]!;

// ---- processes: started here, stopped here whatever happens --------------------------
const children: ChildProcess[] = [];
function stopAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }
}
process.on("exit", stopAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    say(`${signal}: stopping the servers and Redis`);
    stopAll();
    process.exit(130);
  });
}

function start(
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
let stopping = false;

async function waitForHttp(url: string, what: string, timeoutMs = 20_000): Promise<void> {
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

// ---- wrk ------------------------------------------------------------------------------
interface WrkResult {
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

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const { stdout } = await run(
    "wrk",
    [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--latency", url],
    { maxBuffer: 1 << 20 },
  );
  return parseWrk(stdout);
}

async function waitForQuiet(waitMs: number): Promise<number> {
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

// ---- set-up ---------------------------------------------------------------------------
async function ensurePackages(): Promise<void> {
  say("making sure wrk, redis-server, gunicorn, python3-flask and python3-redis are installed");
  await run(
    "bash",
    [
      "-c",
      "source infra/lib.sh && LOG_PREFIX=service-bench apt_install wrk redis-server gunicorn python3-flask python3-redis",
    ],
    { cwd: ROOT },
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface Target {
  server: "ours" | "before" | "Flask" | "bare";
  route: string;
  url: string;
}

async function main(): Promise<void> {
  await ensurePackages();
  const serviceEntry = path.resolve(ROOT, args["service-entry"] ?? "service/dist/server.js");
  if (args["service-entry"] === undefined) {
    say("building the service (tsc -b service)");
    await run("npx", ["tsc", "-b", "service"], { cwd: ROOT });
  }
  const work = await mkdtemp(path.join(tmpdir(), "service-bench-"));
  const logFile = args["log-file"] ?? path.join(work, "service.log");

  try {
    const beforeEntry =
      args["before-entry"] === undefined ? undefined : path.resolve(ROOT, args["before-entry"]);
    const [redisPort, oursPort, flaskPort, barePort, beforePort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    start(
      "redis-server",
      "redis-server",
      [
        "--port",
        String(redisPort),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        work,
      ],
      {},
    );
    for (let i = 0; ; i++) {
      try {
        await run("redis-cli", ["-p", String(redisPort), "ping"]);
        break;
      } catch (err) {
        if (i > 50) throw err;
        await sleep(100);
      }
    }
    const redisVersion = (await run("redis-server", ["--version"])).stdout.trim();

    const logFd = openSync(logFile, "w");
    start(
      "ours",
      process.execPath,
      ["--enable-source-maps", serviceEntry],
      { NODE_ENV: "production", HOST: "127.0.0.1", PORT: String(oursPort), REDIS_URL: redisUrl },
      logFd,
    );
    closeSync(logFd);
    const beforeLogFile = logFile === "/dev/null" ? logFile : path.join(work, "before.log");
    if (beforeEntry !== undefined) {
      const beforeFd = openSync(beforeLogFile, "w");
      start(
        "before",
        process.execPath,
        ["--enable-source-maps", beforeEntry],
        {
          NODE_ENV: "production",
          HOST: "127.0.0.1",
          PORT: String(beforePort),
          REDIS_URL: redisUrl,
          REDIS_KEY_PREFIX: "before:",
        },
        beforeFd,
      );
      closeSync(beforeFd);
    }
    start(
      "gunicorn",
      "/usr/bin/gunicorn",
      [
        "-w",
        "2",
        "-b",
        `127.0.0.1:${flaskPort}`,
        "--chdir",
        path.join(ROOT, "bench"),
        "flask_counter:app",
      ],
      { REDIS_HOST: "127.0.0.1", REDIS_PORT: String(redisPort), PYTHONDONTWRITEBYTECODE: "1" },
    );
    start("bare", process.execPath, [path.join(ROOT, "bench/bare-counter.ts")], {
      HOST: "127.0.0.1",
      PORT: String(barePort),
      REDIS_URL: redisUrl,
    });

    const base = {
      ours: `http://127.0.0.1:${oursPort}`,
      Flask: `http://127.0.0.1:${flaskPort}`,
      bare: `http://127.0.0.1:${barePort}`,
      before: `http://127.0.0.1:${beforePort}`,
    };
    await Promise.all([
      waitForHttp(`${base.ours}/readyz`, "our service"),
      waitForHttp(`${base.Flask}/healthz`, "gunicorn"),
      waitForHttp(`${base.bare}/healthz`, "the bare counter"),
      beforeEntry ? waitForHttp(`${base.before}/readyz`, "the before build") : undefined,
    ]);

    // Each counter page counts one visit per GET, in the same Redis.
    const redisGet = async (key: string) =>
      Number((await run("redis-cli", ["-p", String(redisPort), "get", key])).stdout.trim() || 0);
    for (const [server, key] of [
      ["ours", "visit-counter:visits"],
      ["Flask", "hits"],
      ["bare", "bare:hits"],
      ...(beforeEntry ? ([["before", "before:visits"]] as const) : []),
    ] as const) {
      const before = await redisGet(key);
      const body = await (await fetch(`${base[server]}/`)).text();
      const after = await redisGet(key);
      if (after !== before + 1)
        throw new Error(`GET / on ${server} did not count one visit (${before} → ${after})`);
      if (!body.includes(after.toLocaleString("en-US")))
        throw new Error(
          `GET / on ${server} does not show the count ${after}: ${body.slice(0, 200)}`,
        );
    }
    say("each server counts one visit per GET / in Redis");

    const targets: Target[] = [
      { server: "ours", route: "/", url: `${base.ours}/` },
      { server: "Flask", route: "/", url: `${base.Flask}/` },
      { server: "bare", route: "/", url: `${base.bare}/` },
      { server: "ours", route: "/api/visits", url: `${base.ours}/api/visits` },
      { server: "ours", route: "/healthz", url: `${base.ours}/healthz` },
      { server: "Flask", route: "/healthz", url: `${base.Flask}/healthz` },
      { server: "bare", route: "/healthz", url: `${base.bare}/healthz` },
    ];
    if (beforeEntry !== undefined) {
      targets.splice(
        1,
        0,
        { server: "before", route: "/", url: `${base.before}/` },
        { server: "before", route: "/api/visits", url: `${base.before}/api/visits` },
        { server: "before", route: "/healthz", url: `${base.before}/healthz` },
      );
    }

    /** Requests wrk completed per server, warm-up included, to compare with its access log. */
    const completed = new Map<Target["server"], number>();
    const count = (target: Target, result: WrkResult) =>
      completed.set(target.server, (completed.get(target.server) ?? 0) + result.requests);
    say(`warming up: ${warmupS} s per target`);
    for (const target of targets) count(target, await wrk(target.url, warmupS));

    const loads: number[] = [];
    loads.push(await waitForQuiet(waitLoadMs));
    const startedAt = new Date();
    const results = new Map<Target, WrkResult[]>(targets.map((t) => [t, []]));
    const visitKeys = { ours: "visit-counter:visits", before: "before:visits" } as const;
    const visitsAtStart = {
      ours: await redisGet(visitKeys.ours),
      before: await redisGet(visitKeys.before),
    };
    const pageRequests = { ours: 0, before: 0 };
    for (let round = 0; round < rounds; round++) {
      if (round > 0) loads.push(await waitForQuiet(roundWaitMs));
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        const result = await wrk(target.url, durationS);
        results.get(target)!.push(result);
        count(target, result);
        if ((target.server === "ours" || target.server === "before") && target.route === "/")
          pageRequests[target.server] += result.requests;
        say(
          `round ${round + 1}/${rounds} ${target.server} ${target.route}: ${result.rps.toFixed(0)} req/s, ` +
            `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms` +
            (result.non2xx ? `, ${result.non2xx} non-2xx` : "") +
            (/[1-9]/.test(result.errors) ? `, socket errors ${result.errors}` : ""),
        );
      }
    }
    loads.push(load1());
    const visitsCounted = {
      ours: (await redisGet(visitKeys.ours)) - visitsAtStart.ours,
      before: (await redisGet(visitKeys.before)) - visitsAtStart.before,
    };

    // ---- report ----------------------------------------------------------------------
    const summary = (t: Target) => {
      const rs = results.get(t)!;
      return {
        rps: median(rs.map((r) => r.rps)),
        min: Math.min(...rs.map((r) => r.rps)),
        max: Math.max(...rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50Ms)),
        p99: median(rs.map((r) => r.p99Ms)),
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      };
    };
    const find = (server: Target["server"], route: string) =>
      targets.find((t) => t.server === server && t.route === route);
    const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : "—");
    const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
    const lines = [
      `| server | route | req/s, median (min–max) | p50 | p99 | ÷ Flask | ÷ bare |${beforeEntry ? " ours ÷ before |" : ""}`,
      `|---|---|---|---|---|---|---|${beforeEntry ? "---|" : ""}`,
    ];
    for (const t of targets) {
      const s = summary(t);
      let vsFlask = "";
      let vsBare = "";
      let vsBefore = "";
      if (t.server === "ours" || t.server === "before") {
        const flask = find("Flask", t.route);
        const bare = find("bare", t.route);
        vsFlask = flask ? ratio(s.rps, summary(flask).rps) : "—";
        vsBare = bare ? ratio(s.rps, summary(bare).rps) : "—";
        const before = find("before", t.route);
        if (t.server === "ours" && before) vsBefore = ratio(s.rps, summary(before).rps);
      }
      lines.push(
        `| ${t.server} | \`${t.route}\` | ${fmt(s.rps)} (${fmt(s.min)}–${fmt(s.max)}) | ${s.p50.toFixed(2)} ms | ${s.p99.toFixed(2)} ms | ${vsFlask} | ${vsBare} |${beforeEntry ? ` ${vsBefore} |` : ""}` +
          (s.non2xx ? ` <!-- ${s.non2xx} non-2xx -->` : ""),
      );
    }
    stopping = true;
    stopAll();
    await sleep(500);
    const accessLines = async (file: string) => {
      let lines = 0;
      for await (const line of createInterface({ input: createReadStream(file) })) {
        if (line.includes('"msg":"request"')) lines++;
      }
      return lines;
    };
    const checks: string[] = [];
    for (const [server, file] of [
      ["ours", logFile],
      ["before", beforeLogFile],
    ] as const) {
      if (server === "before" && beforeEntry === undefined) continue;
      checks.push(
        `${server}, GET / during the rounds: wrk completed ${fmt(pageRequests[server])} requests, Redis counted ${fmt(visitsCounted[server])} visits` +
          (file === "/dev/null"
            ? ""
            : `; all routes: wrk completed ${fmt(completed.get(server) ?? 0)} requests, the log has ${fmt(await accessLines(file))} access lines`),
      );
    }
    checks.push(
      "(wrk does not count the requests still in flight when a run ends, up to one per connection per run)",
    );
    const node = process.versions.node;
    const serviceNode = (await run(process.execPath, ["--version"])).stdout.trim();
    const header = [
      `${args.label ? `**${args.label}** — ` : ""}${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC, ` +
        `${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, Node ${serviceNode} (bench on ${node}), ${redisVersion.split(" ").slice(0, 3).join(" ")}`,
      `load average (1 min) before each round and at the end: ${loads.map((l) => l.toFixed(2)).join(", ")}`,
      `wrk -t${threads} -c${connections} -d${durationS}s --latency, ${rounds} rounds, servers alternating; ours: ${path.relative(ROOT, serviceEntry)}` +
        (beforeEntry ? `, before: ${path.relative(ROOT, beforeEntry)}` : "") +
        `; NODE_ENV=production, log to ${logFile === "/dev/null" ? "/dev/null" : "a file"}`,
    ];
    process.stdout.write(
      `${header.join("  \n")}\n\n${lines.join("\n")}\n\n${checks.join("  \n")}\n`,
    );
  } finally {
    stopping = true;
    stopAll();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
