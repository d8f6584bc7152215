import type { Middleware } from "koa";
import type { Readiness } from "../lifecycle/readiness.js";

/**
 * While draining, every response asks the client to close its connection, so
 * keep-alive clients reconnect to another replica instead of holding this one open.
 */
export function drainConnections(readiness: Readiness): Middleware {
  return async (ctx, next) => {
    await next();
    if (readiness.draining) ctx.set("Connection", "close");
  };
}
