/**
 * Throughput of the visit counter against three anchors, on this machine, in one
 * run, against one Redis, with one load generator (Debian's wrk):
 *   - ours: the built service (service/dist/server.js) as the image runs it
 *     (the node flags of its CMD, NODE_ENV=production) with its own defaults
 *     (LOG_LEVEL=info: an access-log line per request; metrics; security
 *     headers), against Redis;
 *   - Flask: the Docker Compose getting-started counter (bench/flask_counter.py)
 *     under gunicorn with 2 sync workers, from Debian's packages;
 *   - bare: node:http plus one ioredis INCR (bench/bare-counter.ts), the
 *     ceiling for this stack;
 *   - Koa: the issue's minimal Koa app, Koa and @koa/router plus the same INCR
 *     (bench/koa-counter.ts, STEP=minimal): what the framework alone costs.
 * After a warm-up, every server and route is loaded in turn, round after
 * round (the order rotates each round), with `wrk -t2 -c50 -d10s --latency`;
 * meanwhile the bench reads from /proc the CPU time the server spent (for
 * gunicorn, its workers too). Prints a Markdown table of medians, with the CPU
 * time per request and the ratios to Flask, bare and Koa.
 *
 *   npx tsx bench/service-bench.ts [--rounds 3] [--duration 10] [--connections 50]
 *       [--max-load 0.7] [--wait-load-minutes 15] [--round-wait-minutes 3]
 *       [--service-entry service/dist/server.js]
 *       [--log-file PATH | --log-file /dev/null] [--before-entry OTHER/server.js]
 *
 * Installs wrk, redis-server, gunicorn, python3-flask and python3-redis with
 * apt when they are missing (as root), and builds the service (tsc -b; the
 * Koa anchor imports its built code too); --service-entry runs another build
 * as ours. Our service's stdout (its JSON log)
 * goes to a temporary file by default, which the bench counts afterwards; in
 * production it goes to stdout, a pipe read by the container runtime.
 * --before-entry adds a fifth server, another build of the service (say, the
 * commit before an optimisation) run the same way with its own key prefix and
 * log file, so that before and after are measured in the same run.
 * Everything started is stopped on exit, on an error and on Ctrl-C.
 */
import { closeSync, createReadStream, openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { freePort } from "../service/src/test-support/free-port.js";
import {
  describeRun,
  ensurePackages,
  fmt,
  imageNodeFlags,
  median,
  ratio,
  ROOT,
  ROUND_OPTIONS,
  roundSettings,
  run,
  runRounds,
  say,
  setUp,
  start,
  startRedis,
  stopAll,
  waitForHttp,
  warmUp,
  withChildren,
  type RoundTarget,
  type WrkResult,
} from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    ...ROUND_OPTIONS,
    "service-entry": { type: "string" },
    "log-file": { type: "string" },
    "before-entry": { type: "string" },
    label: { type: "string", default: "" },
  },
});
const settings = roundSettings(args);

interface Target extends RoundTarget {
  server: Server;
  route: string;
}
type Server = "ours" | "before" | "Flask" | "bare" | "Koa";

async function main(): Promise<void> {
  setUp("service-bench");
  await ensurePackages(["wrk", "redis-server", "gunicorn", "python3-flask", "python3-redis"]);
  const serviceEntry = path.resolve(ROOT, args["service-entry"] ?? "service/dist/server.js");
  // The Koa anchor runs the service's built logger and store code too.
  say("building the service (tsc -b service)");
  await run("npx", ["tsc", "-b", "service"], { cwd: ROOT });
  const work = await mkdtemp(path.join(tmpdir(), "service-bench-"));
  const logFile = args["log-file"] ?? path.join(work, "service.log");

  try {
    const beforeEntry =
      args["before-entry"] === undefined ? undefined : path.resolve(ROOT, args["before-entry"]);
    const [redisPort, oursPort, flaskPort, barePort, koaPort, beforePort] = await Promise.all(
      Array.from({ length: 6 }, () => freePort()),
    );
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const redisVersion = await startRedis(redisPort!, work);

    const nodeFlags = await imageNodeFlags();
    const pids = new Map<Server, number>();
    const logFd = openSync(logFile, "w");
    const ours = start(
      "ours",
      process.execPath,
      [...nodeFlags, serviceEntry],
      { NODE_ENV: "production", HOST: "127.0.0.1", PORT: String(oursPort), REDIS_URL: redisUrl },
      logFd,
    );
    pids.set("ours", ours.pid!);
    closeSync(logFd);
    const beforeLogFile = logFile === "/dev/null" ? logFile : path.join(work, "before.log");
    if (beforeEntry !== undefined) {
      const beforeFd = openSync(beforeLogFile, "w");
      const before = start(
        "before",
        process.execPath,
        [...nodeFlags, beforeEntry],
        {
          NODE_ENV: "production",
          HOST: "127.0.0.1",
          PORT: String(beforePort),
          REDIS_URL: redisUrl,
          REDIS_KEY_PREFIX: "before:",
        },
        beforeFd,
      );
      pids.set("before", before.pid!);
      closeSync(beforeFd);
    }
    const gunicorn = start(
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
    pids.set("Flask", gunicorn.pid!);
    const bare = start("bare", process.execPath, [path.join(ROOT, "bench/bare-counter.ts")], {
      HOST: "127.0.0.1",
      PORT: String(barePort),
      REDIS_URL: redisUrl,
    });
    pids.set("bare", bare.pid!);
    const koa = start("Koa", process.execPath, [path.join(ROOT, "bench/koa-counter.ts")], {
      STEP: "minimal",
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: String(koaPort),
      REDIS_URL: redisUrl,
    });
    pids.set("Koa", koa.pid!);

    const base: Record<Server, string> = {
      ours: `http://127.0.0.1:${oursPort}`,
      Flask: `http://127.0.0.1:${flaskPort}`,
      bare: `http://127.0.0.1:${barePort}`,
      Koa: `http://127.0.0.1:${koaPort}`,
      before: `http://127.0.0.1:${beforePort}`,
    };
    await Promise.all([
      waitForHttp(`${base.ours}/readyz`, "our service"),
      waitForHttp(`${base.Flask}/healthz`, "gunicorn"),
      waitForHttp(`${base.bare}/healthz`, "the bare counter"),
      waitForHttp(`${base.Koa}/healthz`, "the minimal Koa counter"),
      beforeEntry ? waitForHttp(`${base.before}/readyz`, "the before build") : undefined,
    ]);
    const serverPids = new Map<Server, number[]>();
    for (const [server, pid] of pids) serverPids.set(server, await withChildren(pid));
    const target = (server: Server, route: string): Target => ({
      server,
      route,
      label: `${server} ${route}`,
      url: `${base[server]}${route}`,
      pids: serverPids.get(server)!,
    });

    // Each counter page counts one visit per GET, in the same Redis.
    const redisGet = async (key: string) =>
      Number((await run("redis-cli", ["-p", String(redisPort), "get", key])).stdout.trim() || 0);
    for (const [server, key] of [
      ["ours", "visit-counter:visits"],
      ["Flask", "hits"],
      ["bare", "bare:hits"],
      ["Koa", "koa-minimal:hits"],
      ...(beforeEntry ? ([["before", "before:visits"]] as const) : []),
    ] as const) {
      const before = await redisGet(key);
      const body = await (await fetch(`${base[server]}/`)).text();
      const after = await redisGet(key);
      if (after !== before + 1)
        throw new Error(`GET / on ${server} did not count one visit (${before} → ${after})`);
      if (!body.includes(after.toLocaleString("en-US")) && !body.includes(String(after)))
        throw new Error(
          `GET / on ${server} does not show the count ${after}: ${body.slice(0, 200)}`,
        );
    }
    say("each server counts one visit per GET / in Redis");

    const targets: Target[] = [
      target("ours", "/"),
      target("Flask", "/"),
      target("bare", "/"),
      target("Koa", "/"),
      target("ours", "/api/visits"),
      target("ours", "/healthz"),
      target("Flask", "/healthz"),
      target("bare", "/healthz"),
      target("Koa", "/healthz"),
    ];
    if (beforeEntry !== undefined) {
      targets.splice(
        1,
        0,
        target("before", "/"),
        target("before", "/api/visits"),
        target("before", "/healthz"),
      );
    }

    /** Requests wrk completed per server, warm-up included, to compare with its access log. */
    const completed = new Map<Server, number>();
    const count = (t: Target, result: WrkResult) =>
      completed.set(t.server, (completed.get(t.server) ?? 0) + result.requests);
    await warmUp(targets, settings, count);

    const visitKeys = { ours: "visit-counter:visits", before: "before:visits" } as const;
    const visitsAtStart = {
      ours: await redisGet(visitKeys.ours),
      before: await redisGet(visitKeys.before),
    };
    const pageRequests = { ours: 0, before: 0 };
    const { results, loads, startedAt } = await runRounds(targets, settings, (t, result) => {
      count(t, result);
      if ((t.server === "ours" || t.server === "before") && t.route === "/")
        pageRequests[t.server] += result.requests;
    });
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
        cpuUs: median(rs.map((r) => r.cpuUs)),
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      };
    };
    const find = (server: Server, route: string) =>
      targets.find((t) => t.server === server && t.route === route);
    const versus = (t: Target, anchor: Server) => {
      const other = find(anchor, t.route);
      return other && other !== t ? ratio(summary(t).rps, summary(other).rps) : "—";
    };
    const lines = [
      `| server | route | req/s, median (min–max) | p50 | p99 | CPU per request | ÷ Flask | ÷ bare | ÷ Koa |${beforeEntry ? " ours ÷ before |" : ""}`,
      `|---|---|---|---|---|---|---|---|---|${beforeEntry ? "---|" : ""}`,
    ];
    for (const t of targets) {
      const s = summary(t);
      const compared = t.server !== "Flask" && t.server !== "bare";
      lines.push(
        `| ${t.server} | \`${t.route}\` | ${fmt(s.rps)} (${fmt(s.min)}–${fmt(s.max)}) | ${s.p50.toFixed(2)} ms | ${s.p99.toFixed(2)} ms | ${s.cpuUs.toFixed(1)} µs ` +
          `| ${t.server !== "Flask" ? versus(t, "Flask") : ""} | ${compared ? versus(t, "bare") : ""} | ${compared && t.server !== "Koa" ? versus(t, "Koa") : ""} |` +
          (beforeEntry ? ` ${t.server === "ours" ? versus(t, "before") : ""} |` : "") +
          (s.non2xx ? ` <!-- ${s.non2xx} non-2xx -->` : ""),
      );
    }
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
    const [when, loadLine] = describeRun(startedAt, loads, redisVersion);
    const header = [
      `${args.label ? `**${args.label}** — ` : ""}${when}`,
      loadLine,
      `wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency, ${settings.rounds} rounds, servers alternating; ours: ${path.relative(ROOT, serviceEntry)}` +
        (beforeEntry ? `, before: ${path.relative(ROOT, beforeEntry)}` : "") +
        `; ${nodeFlags.join(" ")}, NODE_ENV=production, log to ${logFile === "/dev/null" ? "/dev/null" : "a file"}; ` +
        "CPU per request: the server's user + system time (gunicorn: with its workers) ÷ requests answered",
    ];
    process.stdout.write(
      `${header.join("  \n")}\n\n${lines.join("\n")}\n\n${checks.join("  \n")}\n`,
    );
  } finally {
    stopAll();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
