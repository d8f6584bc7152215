import type { Middleware } from "koa";
import type { Logger } from "pino";
import type { Metrics } from "../metrics/create-metrics.js";
import type { RequestState } from "./request-id.js";

type DurationChild = ReturnType<Metrics["requestDuration"]["labels"]>;

/**
 * For every request, once its status is final: one access-log line
 * (`requestId`, `method`, `path`, `status`, `durationMs`, message "request")
 * and an observation of `http_request_duration_seconds` by method, route
 * pattern (never the raw path, to keep label cardinality fixed; `unmatched`
 * for 404s) and status. One clock read at each end serves both.
 *
 * The histogram's children are looked up once per label combination and
 * cached; the combinations are bounded (the methods Node parses, the
 * router's patterns, the status codes).
 */
export function requestTelemetry(logger: Logger, metrics: Metrics): Middleware<RequestState> {
  const children = new Map<string, DurationChild>();
  const durationFor = (method: string, route: string, status: string): DurationChild => {
    const key = `${method} ${route} ${status}`;
    let child = children.get(key);
    if (child === undefined) {
      child = metrics.requestDuration.labels(method, route, status);
      children.set(key, child);
    }
    return child;
  };

  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const durationNs = Number(process.hrtime.bigint() - started);
      const status = ctx.status;
      const matched: unknown = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route = typeof matched === "string" ? matched : "unmatched";
      durationFor(ctx.method, route, String(status)).observe(durationNs / 1e9);
      logger.info(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          status,
          durationMs: Math.round(durationNs / 1e5) / 10,
        },
        "request",
      );
    }
  };
}
