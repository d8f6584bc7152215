/**
 * The counter page on Koa, from the "minimal Koa app" up to the
 * service itself, one piece of the service at a time:
 *
 *   STEP=minimal REDIS_URL=redis://127.0.0.1:6379 PORT=3002 node bench/koa-counter.ts
 *
 * Each step (bench/koa-steps.ts) adds one thing the service's `GET /` does to
 * the step before it, using the service's own built code (service/dist,
 * `npx tsc -b service`). "minimal" is the minimal Koa app: Koa,
 * @koa/router, one ioredis INCR with the client's defaults, the Compose
 * counter's sentence as text. "service" is createApp itself.
 *
 * GET /healthz answers {"status":"ok"} without Redis at every step.
 */
import Router from "@koa/router";
import { Redis } from "ioredis";
import Koa, { type Middleware } from "koa";
import { randomUUID } from "node:crypto";
import { createApp } from "../service/dist/app.js";
import { requestId, type RequestState } from "../service/dist/http/request-id.js";
import { requestTelemetry } from "../service/dist/http/request-telemetry.js";
import { securityHeaders } from "../service/dist/http/security-headers.js";
import { visitorId } from "../service/dist/http/visitor-cookie.js";
import { createLogger } from "../service/dist/logger.js";
import { createMetrics } from "../service/dist/metrics/create-metrics.js";
import { homePageTemplate } from "../service/dist/pages/render-home-page.js";
import { createRedisClient } from "../service/dist/store/create-redis-client.js";
import { RedisVisitStore } from "../service/dist/store/redis-visit-store.js";
import { STEP_NAMES, type Step } from "./koa-steps.ts";

const step = (process.env.STEP ?? "minimal") as Step;
const upTo = STEP_NAMES.indexOf(step);
if (upTo < 0) {
  process.stderr.write(
    `koa-counter: STEP must be one of ${STEP_NAMES.join(", ")}, not "${step}"\n`,
  );
  process.exit(2);
}
const has = (piece: Step) => STEP_NAMES.indexOf(piece) <= upTo;
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const keyPrefix = `koa-${step}:`;

function createStepApp(): Koa<RequestState> {
  const logger = createLogger("info");
  const metrics = createMetrics();
  const build = { version: "0.0.0-bench", commit: "bench", buildTime: "unknown" };
  /** The service's store, as server.ts makes it (connect errors show as 503s, as there). */
  const serviceStore = () => {
    const redis = createRedisClient({ url: redisUrl, commandTimeoutMs: 1_000 });
    redis.on("error", () => {});
    redis.connect().catch(() => {});
    return new RedisVisitStore(redis, { keyPrefix });
  };
  if (step === "service") return createApp({ store: serviceStore(), logger, metrics, build });

  let count: (ctx: Koa.Context) => Promise<{ visits: number; uniqueVisitors: number }>;
  if (has("store")) {
    const store = serviceStore();
    // Decided here, not per request: the steps measure what the service does per request.
    count = has("cookie")
      ? (ctx) => store.recordVisit(visitorId(ctx))
      : () => store.recordVisit(randomUUID());
  } else {
    const redis = new Redis(redisUrl);
    count = async () => ({ visits: await redis.incr(`${keyPrefix}hits`), uniqueVisitors: 0 });
  }
  const render = homePageTemplate({ build, instance: "bench", embeddedStore: false });
  const page = has("page");

  const app = new Koa<RequestState>();
  if (has("request-id")) app.use(requestId(logger));
  if (has("telemetry")) app.use(requestTelemetry(logger, metrics));
  if (has("headers")) app.use(securityHeaders() as Middleware<RequestState>);
  const router = new Router<RequestState>();
  router.get("/", async (ctx) => {
    const counts = await count(ctx);
    if (page) {
      ctx.set("Cache-Control", "no-store");
      ctx.set("Content-Type", "text/html; charset=utf-8");
      ctx.body = render(counts);
    } else {
      ctx.body = `Hello World! I have been seen ${counts.visits} times.\n`;
    }
  });
  router.get("/healthz", (ctx) => {
    ctx.body = { status: "ok" };
  });
  app.use(router.routes());
  return app;
}

const server = createStepApp().listen(
  Number(process.env.PORT ?? 3002),
  process.env.HOST ?? "127.0.0.1",
);
const stop = () => {
  server.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
