import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  requestDuration: Histogram<"method" | "route" | "status">;
  visits: Counter;
}

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC); off in tests that build many apps. */
  collectDefaults?: boolean;
}

/** One registry per app, so that tests can build apps side by side. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.collectDefaults ?? true) collectDefaultMetrics({ register: registry });
  const requestDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "Duration of HTTP requests, by route pattern and status code",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const visits = new Counter({
    name: "visits_total",
    help: "Visits counted by this instance",
    registers: [registry],
  });
  return { registry, requestDuration, visits };
}
