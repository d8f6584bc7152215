import type { Middleware } from "koa";
import type { RequestState } from "../http/request-id.js";
import type { Readiness } from "../lifecycle/readiness.js";
import { withTimeout } from "../store/with-timeout.js";
import type { VisitStore } from "../store/visit-store.js";

/** GET /healthz: the process answers. Never consults Redis, so a Redis outage does not restart pods. */
export function liveness(): Middleware {
  return (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = { status: "ok" };
  };
}

export interface ReadinessCheckOptions {
  readiness: Readiness;
  store: VisitStore;
  timeoutMs: number;
}

/** GET /readyz: 503 while draining or while the store does not answer a ping within `timeoutMs`. */
export function readinessCheck(options: ReadinessCheckOptions): Middleware<RequestState> {
  return async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    if (options.readiness.draining) {
      ctx.status = 503;
      ctx.body = { status: "draining" };
      return;
    }
    try {
      await withTimeout(
        options.store.ping(),
        options.timeoutMs,
        () => new Error(`no answer within ${options.timeoutMs} ms`),
      );
      ctx.body = { status: "ready" };
    } catch (err) {
      ctx.status = 503;
      ctx.body = { status: "unavailable", reason: "the visit store does not answer" };
      ctx.state.log.warn({ reason: err instanceof Error ? err.message : String(err) }, "not ready");
    }
  };
}
