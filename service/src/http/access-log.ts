import type { Middleware } from "koa";
import type { RequestState } from "./request-id.js";

/** One log line per request, written after the response status is final. */
export function accessLog(): Middleware<RequestState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.state.log.info(
        {
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          durationMs: Math.round(durationMs * 10) / 10,
        },
        "request",
      );
    }
  };
}
