/**
 * The steps of bench/koa-counter.ts, from the minimal Koa app to the
 * service, each adding one thing the service's `GET /` does, with what it adds.
 */
export const STEPS = {
  minimal: "Koa, @koa/router, one INCR, text (the issue's minimal Koa app)",
  store: "+ the service's Redis client and Lua script (INCR, PFADD, PFCOUNT)",
  page: "+ the HTML page (1.7 KB), Cache-Control, Content-Type",
  cookie: "+ the visitor_id cookie (Set-Cookie for a new visitor)",
  headers: "+ helmet's 12 security headers",
  "request-id": "+ X-Request-Id",
  telemetry: "+ the JSON access-log line and the duration histogram",
  service: "= createApp: + error handler, draining, body limit, 405s, visits metric",
} as const;

export type Step = keyof typeof STEPS;
export const STEP_NAMES = Object.keys(STEPS) as Step[];
