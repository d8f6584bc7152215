import supertest from "supertest";
import { createApp, type AppOptions, type App } from "../app.js";
import { Readiness } from "../lifecycle/readiness.js";
import { createMetrics, type Metrics } from "../metrics/create-metrics.js";
import { MemoryVisitStore } from "../store/memory-visit-store.js";
import type { VisitStore } from "../store/visit-store.js";
import { captureLogger } from "./test-logger.js";

export interface TestApp {
  app: App;
  request: ReturnType<typeof supertest>;
  store: VisitStore;
  readiness: Readiness;
  metrics: Metrics;
  logs: Record<string, unknown>[];
}

/** The app on the memory store (unless overridden), driven without a port. */
export function testApp(overrides: Partial<AppOptions> = {}): TestApp {
  const { logger, lines } = captureLogger();
  const store = overrides.store ?? new MemoryVisitStore();
  const readiness = overrides.readiness ?? new Readiness();
  const metrics = overrides.metrics ?? createMetrics({ collectDefaults: false });
  const app = createApp({
    logger,
    instance: "test-instance",
    ...overrides,
    store,
    readiness,
    metrics,
  });
  return { app, request: supertest(app.callback()), store, readiness, metrics, logs: lines };
}

/** The visitor cookie pair (`visitor_id=…`) from a response, for sending it back. */
export function visitorCookie(response: { headers: Record<string, unknown> }): string {
  const setCookie = response.headers["set-cookie"];
  const cookies = Array.isArray(setCookie) ? (setCookie as string[]) : [];
  const cookie = cookies.find((value) => value.startsWith("visitor_id="));
  if (cookie === undefined) throw new Error(`no visitor_id cookie in ${JSON.stringify(setCookie)}`);
  return cookie.split(";")[0] ?? "";
}
