import type { StartedRedisContainer } from "@testcontainers/redis";
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { App } from "../app.js";
import { createMetrics } from "../metrics/create-metrics.js";
import { captureLogger } from "../test-support/test-logger.js";
import { listen, type Listening } from "../test-support/listen.js";
import {
  startRedis,
  startStoppableRedis,
  type StoppableRedis,
} from "../test-support/redis-container.js";
import { createApp } from "../app.js";
import { connectRedisStore } from "./connect-redis-store.js";
import type { VisitCounts, VisitStore } from "./visit-store.js";

const COMMAND_TIMEOUT_MS = 400;

interface Harness {
  app: App;
  store: VisitStore;
  logs: Record<string, unknown>[];
  http: Listening;
}

/** The real wiring server.ts uses, with a key prefix of its own so tests do not share counts. */
async function harness(url: string, { waitForRedis = true } = {}): Promise<Harness> {
  const { logger, lines } = captureLogger();
  const store = connectRedisStore({
    url,
    keyPrefix: `test:${randomUUID()}:`,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    logger,
  });
  const app = createApp({
    store,
    logger,
    metrics: createMetrics({ collectDefaults: false }),
    readinessTimeoutMs: COMMAND_TIMEOUT_MS,
  });
  const http = await listen(app);
  if (waitForRedis) await waitUntilReady(http.baseUrl, 10_000);
  return { app, store, logs: lines, http };
}

async function closeHarness(h: Harness | undefined): Promise<void> {
  if (h === undefined) return;
  await h.http[Symbol.asyncDispose]();
  await h.store.close();
}

async function waitUntilReady(baseUrl: string, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const response = await fetch(`${baseUrl}/readyz`).catch(() => undefined);
    if (response?.status === 200) return Date.now() - started;
    if (Date.now() - started > withinMs) {
      throw new Error(`${baseUrl}/readyz did not answer 200 within ${withinMs} ms`);
    }
    await sleep(100);
  }
}

async function timed(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: unknown; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, init);
  const body: unknown = await response.json();
  return { status: response.status, body, ms: performance.now() - started };
}

async function counts(baseUrl: string): Promise<VisitCounts> {
  const response = await fetch(`${baseUrl}/api/visits`);
  expect(response.status).to.equal(200);
  return (await response.json()) as VisitCounts;
}

describe("visits on a real Redis @slow", function () {
  this.timeout(60_000);
  let redis: StartedRedisContainer | undefined;
  let h: Harness | undefined;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    h = await harness(redis!.getConnectionUrl());
  });
  afterEach(async () => {
    await closeHarness(h);
    h = undefined;
  });

  it("1,000 concurrent POSTs give exactly 1,000 more visits", async () => {
    const { baseUrl } = h!.http;
    await fetch(`${baseUrl}/api/visits`, { method: "POST" });
    const before = await counts(baseUrl);

    const responses = await Promise.all(
      Array.from({ length: 1_000 }, () =>
        fetch(`${baseUrl}/api/visits`, {
          method: "POST",
          headers: { Cookie: "visitor_id=00000000-0000-4000-8000-000000000001" },
        }),
      ),
    );
    expect(responses.map((r) => r.status)).to.deep.equal(Array(1_000).fill(200));
    const returned = await Promise.all(responses.map((r) => r.json() as Promise<VisitCounts>));

    expect((await counts(baseUrl)).visits).to.equal(before.visits + 1_000);
    // INCR is atomic: every request saw its own number, with no gaps and no repeats.
    const seen = returned.map((c) => c.visits).sort((a, b) => a - b);
    expect(seen).to.deep.equal(Array.from({ length: 1_000 }, (_, i) => before.visits + 1 + i));
  });

  it("counts unique visitors by their cookie", async () => {
    const { baseUrl } = h!.http;
    // Fixed ids keep the HyperLogLog estimate deterministic; random ones can collide in a register.
    const cookies = Array.from(
      { length: 25 },
      (_, i) => `visitor_id=00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    );
    for (const cookie of cookies) {
      for (let visit = 0; visit < 3; visit++) {
        const response = await fetch(`${baseUrl}/api/visits`, {
          method: "POST",
          headers: { Cookie: cookie },
        });
        expect(response.status).to.equal(200);
        expect(response.headers.get("set-cookie"), "a known visitor keeps the cookie").to.equal(
          null,
        );
      }
    }
    expect(await counts(baseUrl)).to.deep.equal({ visits: 75, uniqueVisitors: 25 });

    // A newcomer gets a cookie of its own and is counted once, however often it comes back.
    const first = await fetch(`${baseUrl}/`);
    const issued = (first.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(issued).to.match(/^visitor_id=[0-9a-f-]{36}$/);
    expect(await first.text()).to.include('<dd data-testid="unique-visitors">26</dd>');
    await fetch(`${baseUrl}/`, { headers: { Cookie: issued } });
    expect(await counts(baseUrl)).to.deep.equal({ visits: 77, uniqueVisitors: 26 });
  });

  it("estimates many unique visitors within the HyperLogLog's error", async () => {
    const { baseUrl } = h!.http;
    await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        fetch(`${baseUrl}/api/visits`, {
          method: "POST",
          headers: { Cookie: `visitor_id=10000000-0000-4000-8000-${String(i).padStart(12, "0")}` },
        }).then((response) => expect(response.status).to.equal(200)),
      ),
    );
    const { visits, uniqueVisitors } = await counts(baseUrl);
    expect(visits).to.equal(1_000);
    // Redis documents a standard error of 0.81%; 3% is beyond three sigma.
    expect(uniqueVisitors).to.be.within(970, 1_030);
  });
});

describe("Redis outages @slow", function () {
  this.timeout(60_000);
  let redis: StoppableRedis | undefined;
  let h: Harness | undefined;

  beforeEach(async () => {
    redis = await startStoppableRedis();
    h = await harness(redis.url);
  });
  afterEach(async () => {
    await closeHarness(h);
    await redis?.unpause().catch(() => {});
    await redis?.container.stop();
    h = undefined;
    redis = undefined;
  });

  async function expectUnavailableWithinOneSecond(baseUrl: string): Promise<void> {
    const readyz = await timed(`${baseUrl}/readyz`);
    expect(readyz.status).to.equal(503);
    expect(readyz.body).to.include({ status: "unavailable" });
    expect(readyz.ms, "GET /readyz took").to.be.below(1_000);

    const post = await timed(`${baseUrl}/api/visits`, { method: "POST" });
    expect(post.status).to.equal(503);
    expect(post.body).to.include({ error: "Service Unavailable" });
    expect(post.ms, "POST /api/visits took").to.be.below(1_000);

    // Liveness does not depend on Redis: the pod must not be restarted for a Redis outage.
    expect((await timed(`${baseUrl}/healthz`)).status).to.equal(200);
  }

  async function expectRecovered(baseUrl: string): Promise<VisitCounts> {
    await waitUntilReady(baseUrl, 15_000);
    const post = await timed(`${baseUrl}/api/visits`, { method: "POST" });
    expect(post.status).to.equal(200);
    return post.body as VisitCounts;
  }

  it("answers 503 within 1 s while Redis is stopped, and recovers when it starts again", async () => {
    const { baseUrl } = h!.http;
    expect((await timed(`${baseUrl}/api/visits`, { method: "POST" })).status).to.equal(200);

    await redis!.stop();
    await expectUnavailableWithinOneSecond(baseUrl);
    // Still failing fast a while later, while ioredis keeps reconnecting.
    await sleep(1_500);
    await expectUnavailableWithinOneSecond(baseUrl);

    await redis!.start();
    expect((await expectRecovered(baseUrl)).visits).to.be.at.least(1);
    const messages = h!.logs.map((line) => line.msg);
    expect(messages).to.include("lost the Redis connection; reconnecting");
    expect(messages).to.include("Redis is back");
  });

  it("starts while Redis is down and becomes ready once Redis is up", async () => {
    await closeHarness(h);
    await redis!.stop();
    h = await harness(redis!.url, { waitForRedis: false });
    await expectUnavailableWithinOneSecond(h.http.baseUrl);

    await redis!.start();
    expect(await expectRecovered(h.http.baseUrl)).to.deep.equal({ visits: 1, uniqueVisitors: 1 });
    expect(h.logs.map((line) => line.msg)).to.include("Redis is unreachable; retrying");
  });

  it("answers 503 within 1 s while Redis hangs, and recovers when it answers again", async () => {
    const { baseUrl } = h!.http;
    expect((await timed(`${baseUrl}/api/visits`, { method: "POST" })).status).to.equal(200);

    await redis!.pause();
    await expectUnavailableWithinOneSecond(baseUrl);
    await expectUnavailableWithinOneSecond(baseUrl);

    await redis!.unpause();
    // Nothing was lost. The two POSTs that timed out were already on the wire,
    // so Redis may still execute them when it wakes: a 503 means "unknown", not "not counted".
    expect((await expectRecovered(baseUrl)).visits).to.be.within(2, 4);
  });
});
