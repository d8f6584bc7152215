import type { Middleware } from "koa";
import { visitorId } from "../http/visitor-cookie.js";
import type { Metrics } from "../metrics/create-metrics.js";
import type { VisitStore } from "../store/visit-store.js";

/** GET /api/visits: the current counts, without counting. */
export function readVisits(store: VisitStore): Middleware {
  return async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = await store.read();
  };
}

/** POST /api/visits: counts one visit by the cookie's visitor and returns the new counts. */
export function recordVisit(store: VisitStore, metrics: Metrics): Middleware {
  return async (ctx) => {
    const counts = await store.recordVisit(visitorId(ctx));
    metrics.visits.inc();
    ctx.set("Cache-Control", "no-store");
    ctx.body = counts;
  };
}
