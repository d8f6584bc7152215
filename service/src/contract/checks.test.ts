import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createMetrics } from "../metrics/create-metrics.js";
import { listen } from "../test-support/listen.js";
import { testApp } from "../test-support/test-app.js";
import { checks, type ContractTarget } from "./checks.js";

/** Runs every check the way pipeline-lib does: all of them, failures as messages. */
async function failures(
  target: Omit<ContractTarget, "fetch" | "timeoutMs"> & Partial<ContractTarget>,
) {
  const failed: { name: string; message: string }[] = [];
  for (const check of checks) {
    try {
      await check.run({ fetch: globalThis.fetch, timeoutMs: 2_000, ...target });
    } catch (error) {
      failed.push({ name: check.name, message: (error as Error).message });
    }
  }
  return failed;
}

/**
 * A small real HTTP server that keeps the contract, with ways to break it:
 * the checks must pass against it, and catch exactly the broken promise.
 */
function contractServer(
  options: {
    countOnGet?: boolean;
    commit?: string;
    postCountsTwice?: boolean;
    /** Another visitor counts before every answer: a release under steady traffic. */
    busy?: boolean;
    /** Each GET of the count answers one less than the last (a counter that loses data). */
    goesDown?: boolean;
    /** uniqueVisitors is this share above visits (a HyperLogLog estimate's error, or a bug). */
    uniqueOvershoot?: number;
  } = {},
): Server {
  let visits = 100;
  return createServer((req, res) => {
    if (options.busy) visits++;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(body));
    };
    switch (`${req.method} ${req.url}`) {
      case "GET /healthz":
      case "GET /readyz":
        return json(200, { status: "ok" });
      case "GET /version":
        return json(200, { version: "1.0.0", commit: options.commit ?? "abc" });
      case "GET /api/visits":
        if (options.countOnGet) visits++;
        if (options.goesDown) visits--;
        return json(200, {
          visits,
          uniqueVisitors:
            options.uniqueOvershoot === undefined
              ? Math.min(visits, 1)
              : Math.round(visits * (1 + options.uniqueOvershoot)),
        });
      case "POST /api/visits":
        visits += options.postCountsTwice ? 2 : 1;
        return json(200, { visits, uniqueVisitors: 1 });
      case "GET /":
        visits++;
        res.writeHead(200, { "content-type": "text/html", "x-content-type-options": "nosniff" });
        return res.end(`<html><body>${visits}</body></html>`);
      case "GET /metrics":
        res.writeHead(200, { "content-type": "text/plain" });
        return res.end("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\n");
      default:
        return json(404, { error: "not found" });
    }
  });
}

describe("the visit counter's contract checks", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const start = async (options?: Parameters<typeof contractServer>[0]) => {
    const server = contractServer(options);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it("pass against the real app (createApp on the memory store)", async () => {
    const { app } = testApp({
      build: { version: "1.2.3", commit: "c0ffee", buildTime: "now" },
      metrics: createMetrics(),
    });
    await using served = await listen(app);
    expect(await failures({ baseUrl: served.baseUrl, expectedCommit: "c0ffee" })).to.deep.equal([]);
    expect(checks.length).to.be.greaterThanOrEqual(8);
  });

  it("pass against a server that keeps the contract", async () => {
    expect(await failures({ baseUrl: await start(), expectedCommit: "abc" })).to.deep.equal([]);
  });

  it("catch a GET that counts, and only that", async () => {
    const failed = await failures({ baseUrl: await start({ countOnGet: true }) });
    expect(failed.map((f) => f.name)).to.include("GET /api/visits does not count");
    expect(failed.find((f) => f.name === "GET /api/visits does not count")!.message).to.match(
      /visits rose between two GETs in each of 3 tries .*GET must not count/,
    );
  });

  it("hold on a live release while other visitors count all the time, and not in an isolated test", async () => {
    const baseUrl = await start({ busy: true });
    const counting = [
      "two POSTs to /api/visits raise the count by exactly 2",
      "GET /api/visits does not count",
    ];
    const live = await failures({ baseUrl, expectedCommit: "abc", live: true });
    expect(live).to.deep.equal([]);
    const isolated = await failures({ baseUrl, expectedCommit: "abc" });
    expect(isolated.map((f) => f.name)).to.deep.equal(counting);
  });

  it("still catch, on a live release, a count that goes down", async () => {
    const failed = await failures({ baseUrl: await start({ goesDown: true }), live: true });
    expect(failed.map((f) => f.message)).to.include.members([
      "the count went down: 101 after the second POST, then 100",
    ]);
    expect(failed.find((f) => f.name === "GET /api/visits does not count")?.message).to.match(
      /^the count went down between two GETs: \d+→\d+$/,
    );
  });

  it("accept a unique-visitor estimate a little above the count (HyperLogLog's error), not far above", async () => {
    const name = "GET /api/visits does not count";
    const near = await failures({
      baseUrl: await start({ uniqueOvershoot: 0.01 }),
      expectedCommit: "abc",
    });
    expect(near.map((f) => f.name)).to.not.include(name);
    const far = await failures({
      baseUrl: await start({ uniqueOvershoot: 0.2 }),
      expectedCommit: "abc",
    });
    expect(far.find((f) => f.name === name)?.message).to.match(
      /^more unique visitors than visits, beyond the estimate's error: \{"visits":\d+,"uniqueVisitors":\d+\}$/,
    );
  });

  it("catch a POST that counts twice", async () => {
    const failed = await failures({ baseUrl: await start({ postCountsTwice: true }) });
    expect(failed.map((f) => f.name)).to.deep.equal([
      "two POSTs to /api/visits raise the count by exactly 2",
    ]);
    expect(failed[0]!.message).to.match(/expected exactly \+2/);
  });

  it("catch an image built from another commit", async () => {
    const failed = await failures({
      baseUrl: await start({ commit: "0ld" }),
      expectedCommit: "abc",
    });
    expect(failed.map((f) => f.message)).to.deep.equal([
      "/version reports commit 0ld, expected abc",
    ]);
  });

  it("fail every check against an unreachable app", async () => {
    const failed = await failures({ baseUrl: "http://127.0.0.1:9", timeoutMs: 1_000 });
    expect(failed).to.have.length(checks.length);
  });
});
