/**
 * Where the counter page's time goes: the bare node:http counter, then the
 * counter page on Koa built up one piece of the service at a time
 * (bench/koa-counter.ts, from the minimal Koa app to createApp
 * itself), loaded in turn, round after round, against one Redis:
 *
 *   npx tsx bench/service-ablation.ts [--rounds 3] [--duration 10] [--connections 50]
 *       [--max-load 0.7] [--round-wait-minutes 3]
 *
 * For each server: requests per second and p99 from `wrk -t2 -c50 --latency`,
 * and the CPU time the server process spent per request it answered (user
 * plus system, from /proc), which is what each piece costs. The server is
 * one Node process and keeps one core busy under this load, so its CPU per
 * request bounds its throughput, and that figure moves far less with the rest
 * of the machine than requests per second do. Prints a Markdown table of
 * medians; the access logs go to a temporary file.
 */
import { closeSync, openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../service/src/test-support/free-port.js";
import { STEPS, STEP_NAMES } from "./koa-steps.ts";
import {
  ensurePackages,
  fmt,
  load1,
  median,
  ratio,
  ROOT,
  ROUND_OPTIONS,
  run,
  say,
  setUp,
  start,
  startRedis,
  stopAll,
  waitForHttp,
  waitForQuiet,
  wrk,
  type WrkResult,
} from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    ...ROUND_OPTIONS,
  },
});
const rounds = Number(args.rounds);
const durationS = Number(args.duration);
const load = { threads: Number(args.threads), connections: Number(args.connections) };

const ADDS: Record<string, string> = {
  bare: "node:http, one ioredis INCR, text (the ceiling)",
  ...STEPS,
};

async function main(): Promise<void> {
  setUp("service-ablation");
  await ensurePackages(["wrk", "redis-server"]);
  say("building the service (tsc -b service): the steps run its built code");
  await run("npx", ["tsc", "-b", "service"], { cwd: ROOT });
  const work = await mkdtemp(path.join(tmpdir(), "service-ablation-"));
  try {
    const redisPort = await freePort();
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const redisVersion = await startRedis(redisPort, work);

    const servers: { name: string; url: string; pid: number }[] = [];
    const barePort = await freePort();
    const bare = start("bare", process.execPath, [path.join(ROOT, "bench/bare-counter.ts")], {
      HOST: "127.0.0.1",
      PORT: String(barePort),
      REDIS_URL: redisUrl,
    });
    servers.push({ name: "bare", url: `http://127.0.0.1:${barePort}`, pid: bare.pid! });
    const logFd = openSync(path.join(work, "access.log"), "w");
    for (const step of STEP_NAMES) {
      const port = await freePort();
      const child = start(
        step,
        process.execPath,
        [path.join(ROOT, "bench/koa-counter.ts")],
        { NODE_ENV: "production", STEP: step, PORT: String(port), REDIS_URL: redisUrl },
        logFd,
      );
      servers.push({ name: step, url: `http://127.0.0.1:${port}`, pid: child.pid! });
    }
    closeSync(logFd);
    await Promise.all(servers.map((s) => waitForHttp(`${s.url}/healthz`, s.name)));
    for (const s of servers) {
      const body = await (await fetch(`${s.url}/`)).text();
      if (!/\d/.test(body)) throw new Error(`GET / on ${s.name} shows no count: ${body}`);
    }

    say(`warming up: ${args.warmup} s per server`);
    for (const s of servers) await wrk(`${s.url}/`, Number(args.warmup), load);
    const loads = [await waitForQuiet(Number(args["max-load"]), 15 * 60_000)];
    const startedAt = new Date();
    const results = new Map(servers.map((s) => [s.name, [] as (WrkResult & { cpuUs: number })[]]));
    for (let round = 0; round < rounds; round++) {
      if (round > 0)
        loads.push(
          await waitForQuiet(Number(args["max-load"]), Number(args["round-wait-minutes"]) * 60_000),
        );
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      for (const s of order) {
        const result = await wrk(`${s.url}/`, durationS, load, [s.pid]);
        const cpuUs = (result.cpuSeconds * 1e6) / result.requests;
        results.get(s.name)!.push({ ...result, cpuUs });
        say(
          `round ${round + 1}/${rounds} ${s.name}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms} ms, ` +
            `${cpuUs.toFixed(1)} µs CPU per request` +
            (result.non2xx ? `, ${result.non2xx} non-2xx` : ""),
        );
      }
    }
    loads.push(load1());

    const summary = (name: string) => {
      const rs = results.get(name)!;
      return {
        rps: median(rs.map((r) => r.rps)),
        p99: median(rs.map((r) => r.p99Ms)),
        cpuUs: median(rs.map((r) => r.cpuUs)),
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      };
    };
    const bareSummary = summary("bare");
    const lines = [
      "| server | what it adds | req/s | p99 | CPU per request | added by this step | ÷ bare (req/s) |",
      "|---|---|---|---|---|---|---|",
    ];
    let previous: number | undefined;
    for (const s of servers) {
      const m = summary(s.name);
      const added =
        s.name === "bare" || previous === undefined ? "" : `${(m.cpuUs - previous).toFixed(1)} µs`;
      lines.push(
        `| ${s.name} | ${ADDS[s.name]} | ${fmt(m.rps)} | ${m.p99.toFixed(2)} ms | ${m.cpuUs.toFixed(1)} µs | ${added} | ${s.name === "bare" ? "" : ratio(m.rps, bareSummary.rps)} |` +
          (m.non2xx ? ` <!-- ${m.non2xx} non-2xx -->` : ""),
      );
      if (s.name !== "bare") previous = m.cpuUs;
    }
    const header = [
      `${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC, ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, ` +
        `Node ${process.version}, ${redisVersion}`,
      `load average (1 min) before each round and at the end: ${loads.map((l) => l.toFixed(2)).join(", ")}`,
      `GET /, wrk -t${load.threads} -c${load.connections} -d${durationS}s --latency, ${rounds} rounds, servers alternating; medians`,
    ];
    process.stdout.write(`${header.join("  \n")}\n\n${lines.join("\n")}\n`);
  } finally {
    stopAll();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
