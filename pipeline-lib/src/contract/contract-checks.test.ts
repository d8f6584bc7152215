import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { runContractChecks } from "./contract-checks.js";

/**
 * A small real HTTP server that keeps the contract, with one way to break it:
 * the checks must pass against it, and catch exactly the broken promise.
 */
function contractServer(options: { countOnGet?: boolean; commit?: string } = {}): Server {
  let visits = 0;
  return createServer((req, res) => {
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
        return json(200, { visits, uniqueVisitors: Math.min(visits, 1) });
      case "POST /api/visits":
        visits++;
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

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("contract checks", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const start = async (options?: Parameters<typeof contractServer>[0]) => {
    const server = contractServer(options);
    servers.push(server);
    return listen(server);
  };

  it("pass against a server that keeps the contract", async () => {
    const results = await runContractChecks({ baseUrl: await start(), expectedCommit: "abc" });
    expect(results.filter((r) => !r.passed)).to.deep.equal([]);
    expect(results).to.have.length.greaterThanOrEqual(8);
  });

  it("catch a GET that counts, and only that", async () => {
    const results = await runContractChecks({ baseUrl: await start({ countOnGet: true }) });
    const failed = results.filter((r) => !r.passed);
    expect(failed.map((r) => r.name)).to.deep.equal(["GET /api/visits does not count"]);
    expect(failed[0]!.failure).to.match(
      /visits rose between two GETs in each of 3 tries .*GET must not count/,
    );
  });

  it("catch an image built from another commit", async () => {
    const results = await runContractChecks({
      baseUrl: await start({ commit: "0ld" }),
      expectedCommit: "abc",
    });
    const failed = results.filter((r) => !r.passed);
    expect(failed.map((r) => r.failure)).to.deep.equal([
      "/version reports commit 0ld, expected abc",
    ]);
  });

  it("report an unreachable app on every check instead of stopping at the first", async () => {
    const results = await runContractChecks({ baseUrl: "http://127.0.0.1:9", timeoutMs: 1_000 });
    expect(
      results.every((r) => !r.passed && /fetch failed|ECONNREFUSED/.test(r.failure ?? "")),
    ).to.equal(true);
  });
});
