import type { Middleware } from "koa";
import type { Registry } from "prom-client";

/** GET /metrics in the Prometheus text format. */
export function metricsEndpoint(registry: Registry): Middleware {
  return async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  };
}
