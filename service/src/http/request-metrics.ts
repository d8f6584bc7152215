import type { Middleware } from "koa";
import type { Metrics } from "../metrics/create-metrics.js";

/** Records each request's duration by route pattern, never the raw path, to keep label cardinality fixed. */
export function requestMetrics(metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const end = metrics.requestDuration.startTimer();
    try {
      await next();
    } finally {
      const matched: unknown = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      end({
        method: ctx.method,
        route: typeof matched === "string" ? matched : "unmatched",
        status: String(ctx.status),
      });
    }
  };
}
