/**
 * Where the counter page's time goes: the bare node:http counter, then the
 * counter page on Koa built up one piece of the service at a time
 * (bench/koa-counter.ts, from the minimal Koa app to createApp
 * itself), loaded in turn, round after round, against one Redis:
 *
 *   npx tsx bench/service-ablation.ts [--rounds 3] [--duration 10] [--connections 50]
 *       [--max-load 0.7] [--wait-load-minutes 15] [--round-wait-minutes 3]
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
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../service/src/test-support/free-port.js";
import { STEPS, STEP_NAMES } from "./koa-steps.ts";
import {
  describeRun,
  ensurePackages,
  fmt,
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
  type RoundTarget,
} from "./lib.ts";

const { values: args } = parseArgs({ options: ROUND_OPTIONS });
const settings = roundSettings(args);

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

    const servers: RoundTarget[] = [];
    const barePort = await freePort();
    const bare = start("bare", process.execPath, [path.join(ROOT, "bench/bare-counter.ts")], {
      HOST: "127.0.0.1",
      PORT: String(barePort),
      REDIS_URL: redisUrl,
    });
    servers.push({ label: "bare", url: `http://127.0.0.1:${barePort}/`, pids: [bare.pid!] });
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
      servers.push({ label: step, url: `http://127.0.0.1:${port}/`, pids: [child.pid!] });
    }
    closeSync(logFd);
    await Promise.all(servers.map((s) => waitForHttp(`${s.url}healthz`, s.label)));
    for (const s of servers) {
      const body = await (await fetch(s.url)).text();
      if (!/\d/.test(body)) throw new Error(`GET / on ${s.label} shows no count: ${body}`);
    }

    await warmUp(servers, settings);
    const { results, loads, startedAt } = await runRounds(servers, settings);

    const summary = (server: RoundTarget) => {
      const rs = results.get(server)!;
      return {
        rps: median(rs.map((r) => r.rps)),
        p99: median(rs.map((r) => r.p99Ms)),
        cpuUs: median(rs.map((r) => r.cpuUs)),
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      };
    };
    const bareSummary = summary(servers[0]!);
    const lines = [
      "| server | what it adds | req/s | p99 | CPU per request | added by this step | ÷ bare (req/s) |",
      "|---|---|---|---|---|---|---|",
    ];
    let previous: number | undefined;
    for (const s of servers) {
      const m = summary(s);
      const isBare = s.label === "bare";
      const added = isBare || previous === undefined ? "" : `${(m.cpuUs - previous).toFixed(1)} µs`;
      lines.push(
        `| ${s.label} | ${ADDS[s.label]} | ${fmt(m.rps)} | ${m.p99.toFixed(2)} ms | ${m.cpuUs.toFixed(1)} µs | ${added} | ${isBare ? "" : ratio(m.rps, bareSummary.rps)} |` +
          (m.non2xx ? ` <!-- ${m.non2xx} non-2xx -->` : ""),
      );
      if (!isBare) previous = m.cpuUs;
    }
    const header = [
      ...describeRun(startedAt, loads, redisVersion),
      `GET /, wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s --latency, ${settings.rounds} rounds, servers alternating; medians`,
    ];
    process.stdout.write(`${header.join("  \n")}\n\n${lines.join("\n")}\n`);
  } finally {
    stopAll();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
