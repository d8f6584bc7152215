import type { Middleware } from "koa";
import type { BuildInfo } from "../config/load-config.js";
import { visitorId } from "../http/visitor-cookie.js";
import type { Metrics } from "../metrics/create-metrics.js";
import { homePageTemplate } from "../pages/render-home-page.js";
import type { VisitStore } from "../store/visit-store.js";

export interface HomePageOptions {
  store: VisitStore;
  metrics: Metrics;
  build: BuildInfo;
  instance: string;
  embeddedStore: boolean;
}

/** GET / counts the visit and renders the totals; HEAD renders without counting. */
export function homePage(options: HomePageOptions): Middleware {
  const render = homePageTemplate(options);
  return async (ctx) => {
    const counting = ctx.method !== "HEAD";
    const counts = counting
      ? await options.store.recordVisit(visitorId(ctx))
      : await options.store.read();
    if (counting) options.metrics.visits.inc();
    ctx.set("Cache-Control", "no-store");
    ctx.set("Content-Type", "text/html; charset=utf-8");
    ctx.body = render(counts);
  };
}
