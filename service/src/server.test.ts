import type { StartedRedisContainer } from "@testcontainers/redis";
import { expect } from "chai";
import { request as httpRequest, type ClientRequest } from "node:http";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { startRedis } from "./test-support/redis-container.js";
import { startServerProcess, type ServerProcess } from "./test-support/server-process.js";

interface SlowUpload {
  request: ClientRequest;
  response: Promise<{ status: number; body: string; at: number }>;
}

/**
 * A real in-flight request: a POST whose body arrives slowly, as from a client
 * on a bad network. The server holds it open until the last byte comes.
 */
function startSlowUpload(port: number): SlowUpload {
  const request = httpRequest({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: "/api/visits",
    headers: { "Content-Type": "application/json", "Content-Length": "2" },
  });
  const response = new Promise<{ status: number; body: string; at: number }>((resolve, reject) => {
    request.on("error", reject);
    request.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, at: Date.now() }));
    });
  });
  request.write("{");
  return { request, response };
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, withinMs: number) {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${withinMs} ms`);
    await sleep(50);
  }
}

describe("server process @slow", function () {
  this.timeout(30_000);
  let server: ServerProcess | undefined;

  afterEach(async () => {
    await server?.[Symbol.asyncDispose]();
    server = undefined;
  });

  it("exits 2 and names the variable on a bad configuration", async () => {
    server = startServerProcess({ PORT: "abc" });
    expect(await server.exited).to.equal(2);
    expect(server.stderr()).to.include('configuration error: PORT: "abc" is not a whole number');

    server = startServerProcess({ REDIS_URL: "localhost:6379" });
    expect(await server.exited).to.equal(2);
    expect(server.stderr()).to.include("REDIS_URL");
  });

  it("runs on the in-memory store without REDIS_URL, says so, and exits 0 on SIGINT", async () => {
    server = startServerProcess({});
    const port = await server.listening;
    const warning = server.logs.find((line) => line.level === "warn");
    expect(String(warning?.msg)).to.include("REDIS_URL is not set: counting in memory");

    const response = await fetch(`http://127.0.0.1:${port}/api/visits`, { method: "POST" });
    expect(await response.json()).to.deep.equal({ visits: 1, uniqueVisitors: 1 });

    server.child.kill("SIGINT");
    expect(await server.exited).to.equal(0);
  });

  it("exits 1 when in-flight requests outlast SHUTDOWN_TIMEOUT_MS", async () => {
    server = startServerProcess({ SHUTDOWN_TIMEOUT_MS: "1000" });
    const port = await server.listening;
    const upload = startSlowUpload(port);
    upload.response.catch(() => {}); // the server goes away mid-request
    await sleep(200);

    const started = Date.now();
    server.child.kill("SIGTERM");
    expect(await server.exited).to.equal(1);
    expect(Date.now() - started).to.be.within(900, 5_000);
    expect(server.logs.map((line) => line.msg)).to.include("shutdown timed out; forcing exit");
    upload.request.destroy();
  });
});

describe("graceful shutdown with Redis @slow", function () {
  this.timeout(60_000);
  let redis: StartedRedisContainer | undefined;
  let server: ServerProcess | undefined;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await server?.[Symbol.asyncDispose]();
    server = undefined;
  });

  it("turns readiness to 503, finishes the in-flight request, closes the listener and Redis, exits 0", async () => {
    server = startServerProcess({
      REDIS_URL: redis!.getConnectionUrl(),
      REDIS_KEY_PREFIX: `shutdown-${Date.now()}:`,
      SHUTDOWN_DELAY_MS: "1000",
      SHUTDOWN_TIMEOUT_MS: "10000",
    });
    const port = await server.listening;
    const base = `http://127.0.0.1:${port}`;
    await waitFor("readiness", async () => (await fetch(`${base}/readyz`)).status === 200, 10_000);

    const upload = startSlowUpload(port);
    await sleep(200);
    server.child.kill("SIGTERM");

    // During the pre-stop delay the listener still accepts, and readiness says go away.
    await waitFor("readiness 503", async () => (await fetch(`${base}/readyz`)).status === 503, 900);
    const draining = await fetch(`${base}/readyz`);
    expect(await draining.json()).to.deep.equal({ status: "draining" });
    expect(draining.headers.get("connection")).to.equal("close");

    // Then the listener closes while the upload is still in flight…
    await waitFor("listener closed", () => refusesConnections(port), 5_000);
    expect(server.child.exitCode, "the process waits for the in-flight request").to.equal(null);

    // …and the request completes normally once its body arrives.
    upload.request.end("}");
    const response = await upload.response;
    expect(response.status).to.equal(200);
    expect(JSON.parse(response.body)).to.deep.equal({ visits: 1, uniqueVisitors: 1 });

    expect(await server.exited).to.equal(0);
    const messages = server.logs.map((line) => line.msg);
    expect(messages).to.include.members([
      "shutdown requested",
      "draining: readiness now answers 503",
      "closing the listener; waiting for in-flight requests",
      "store closed",
      "shutdown complete",
    ]);
    const requestLogged = server.logs.findIndex(
      (line) => line.msg === "request" && line.path === "/api/visits",
    );
    expect(requestLogged, "the upload finished before the store closed").to.be.within(
      messages.indexOf("closing the listener; waiting for in-flight requests"),
      messages.indexOf("store closed"),
    );
  });
});
