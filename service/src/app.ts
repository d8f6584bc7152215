import { bodyParser } from "@koa/bodyparser";
import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { METHODS } from "node:http";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { BuildInfo } from "./config/load-config.js";
import { bodyLimit, onlyForMethods } from "./http/body-limit.js";
import { drainConnections } from "./http/drain-connections.js";
import { errorHandler } from "./http/error-handler.js";
import { requestId, type RequestState } from "./http/request-id.js";
import { requestTelemetry } from "./http/request-telemetry.js";
import { securityHeaders } from "./http/security-headers.js";
import { Readiness } from "./lifecycle/readiness.js";
import { createMetrics, type Metrics } from "./metrics/create-metrics.js";
import { liveness, readinessCheck } from "./routes/health.js";
import { homePage } from "./routes/home-page.js";
import { metricsEndpoint } from "./routes/metrics-endpoint.js";
import { version } from "./routes/version.js";
import { readVisits, recordVisit } from "./routes/visits.js";
import type { VisitStore } from "./store/visit-store.js";
import { MemoryVisitStore } from "./store/memory-visit-store.js";

export interface AppOptions {
  store: VisitStore;
  logger: Logger;
  metrics?: Metrics;
  readiness?: Readiness;
  build?: BuildInfo;
  /** Shown on the page; defaults to the host name, which is the pod name on Kubernetes. */
  instance?: string;
  readinessTimeoutMs?: number;
  bodyLimitBytes?: number;
  /** Trust X-Forwarded-Proto/-For from a proxy in front (ingress, load balancer). */
  trustProxy?: boolean;
}

export type App = Koa<RequestState>;

/** The methods whose bodies are parsed (the body parser's defaults). */
const BODY_METHODS = ["POST", "PUT", "PATCH"] as const;

const DEFAULT_BUILD: BuildInfo = { version: "0.0.0-dev", commit: "unknown", buildTime: "unknown" };

/**
 * Builds the Koa app from its collaborators. It opens no port and reads no
 * environment: tests drive it with `request(app.callback())`, and server.ts
 * owns configuration, Redis and the listener.
 */
export function createApp(options: AppOptions): App {
  const { store, logger } = options;
  const metrics = options.metrics ?? createMetrics();
  const readiness = options.readiness ?? new Readiness();
  const build = options.build ?? DEFAULT_BUILD;
  const bodyLimitBytes = options.bodyLimitBytes ?? 16 * 1024;

  const app: App = new Koa<RequestState>({ proxy: options.trustProxy ?? false });
  // Every error is answered and logged by errorHandler; Koa's own stderr printing would duplicate it.
  app.silent = true;

  // Every method Node parses counts as implemented, so TRACE or PROPFIND on a
  // known path gets 405 with Allow instead of a 501 that would count as a server error.
  const router = new Router<RequestState>({ methods: METHODS });
  router.get(
    "/",
    homePage({
      store,
      metrics,
      build,
      instance: options.instance ?? hostname(),
      embeddedStore: store instanceof MemoryVisitStore,
    }),
  );
  router.get("/api/visits", readVisits(store));
  router.post("/api/visits", recordVisit(store, metrics));
  router.get("/healthz", liveness());
  router.get(
    "/readyz",
    readinessCheck({ readiness, store, timeoutMs: options.readinessTimeoutMs ?? 500 }),
  );
  router.get("/metrics", metricsEndpoint(metrics.registry));
  router.get("/version", version(build));

  // Order matters: the telemetry sees the final status, which errorHandler
  // sets; every response, errors included, carries the id and the headers.
  // The middleware that need no await after next() return next() directly,
  // which saves an async step per request.
  app.use(requestId(logger));
  app.use(requestTelemetry(logger, metrics));
  app.use(errorHandler());
  app.use(drainConnections(readiness));
  app.use(securityHeaders());
  app.use(bodyLimit(bodyLimitBytes));
  app.use(
    onlyForMethods(
      BODY_METHODS,
      bodyParser({
        enableTypes: ["json"],
        jsonLimit: bodyLimitBytes,
        parsedMethods: [...BODY_METHODS],
        onError: rejectUnreadableBody,
      }),
    ),
  );
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/**
 * A body the parser cannot read is the client's fault: bad JSON (400), too
 * large (413) and an unknown encoding (415) already say so, but a corrupt
 * gzip, deflate or br body fails in zlib without a status, which would be a 500.
 */
function rejectUnreadableBody(error: Error, ctx: Context): void {
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) throw error;
  ctx.throw(400, "the request body could not be decoded", { cause: error });
}
