import { expect } from "chai";
import Koa from "koa";
import helmet from "koa-helmet";
import supertest, { type Response } from "supertest";
import { HOME_PAGE_STYLE_HASH } from "../pages/render-home-page.js";
import { computeSecurityHeaders, SECURITY_HEADER_OPTIONS } from "./security-headers.js";
import { StoreUnavailableError, type VisitStore } from "../store/visit-store.js";
import { testApp, type TestApp } from "../test-support/test-app.js";

/** What every response carries, whatever the route, method or status. */
function expectSecurityHeaders(response: Response, what: string): void {
  const headers = response.headers as Record<string, string | undefined>;
  expect(headers, what).to.include({
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  });
  expect(headers["strict-transport-security"], what).to.match(/max-age=\d+/);
  const csp = headers["content-security-policy"] ?? "";
  expect(csp, what).to.include("default-src 'none'");
  expect(csp, what).to.include("frame-ancestors 'none'");
  expect(csp, what).to.include("base-uri 'none'");
  expect(headers, what).not.to.have.property("x-powered-by");
}

/**
 * The exact security headers, as helmet computed them per request before they
 * were computed once at start (the Content-Security-Policy allows the page's
 * stylesheet by hash). A response carries exactly these, `X-Request-Id`, and
 * the headers of its route and status: nothing more, nothing less.
 */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none';style-src " +
    HOME_PAGE_STYLE_HASH +
    ";img-src 'self';base-uri 'none';form-action 'self';frame-ancestors 'none'",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "origin-agent-cluster": "?1",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "x-content-type-options": "nosniff",
  "x-dns-prefetch-control": "off",
  "x-download-options": "noopen",
  "x-frame-options": "SAMEORIGIN",
  "x-permitted-cross-domain-policies": "none",
  "x-xss-protection": "0",
};
/** Sent on every response by Node and Koa (supertest asks for Connection: close). */
const ALWAYS = ["x-request-id", "content-type", "content-length", "date", "connection"];

function expectExactHeaderSet(response: Response, routeHeaders: string[], what: string): void {
  const headers = response.headers as Record<string, string | undefined>;
  const securityPart = Object.fromEntries(
    Object.keys(SECURITY_HEADERS).map((name) => [name, headers[name]]),
  );
  expect(securityPart, what).to.deep.equal(SECURITY_HEADERS);
  expect(Object.keys(headers).sort(), what).to.deep.equal(
    [...ALWAYS, ...Object.keys(SECURITY_HEADERS), ...routeHeaders].sort(),
  );
  expect(headers["x-request-id"], what).to.match(/^[\w.:-]{1,128}$/);
}

type Call = (app: TestApp) => Promise<Response>;

const down: VisitStore = {
  recordVisit: () =>
    Promise.reject(new StoreUnavailableError("Redis could not ping: ECONNREFUSED")),
  read: () => Promise.reject(new StoreUnavailableError("Redis could not ping: ECONNREFUSED")),
  ping: () => Promise.reject(new StoreUnavailableError("Redis could not ping: ECONNREFUSED")),
  close: () => Promise.resolve(),
};
const broken: VisitStore = {
  recordVisit: () => Promise.reject(new Error("a bug")),
  read: () => Promise.reject(new Error("a bug")),
  ping: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

describe("security headers on every route, method and status", () => {
  // Every route the app serves (app.ts), the router's 404 and 405, and the error paths.
  const cases: [string, number, string[], Call, Partial<Parameters<typeof testApp>[0]>?][] = [
    ["GET /", 200, ["set-cookie", "cache-control"], ({ request }) => request.get("/")],
    ["GET /api/visits", 200, ["cache-control"], ({ request }) => request.get("/api/visits")],
    [
      "POST /api/visits",
      200,
      ["set-cookie", "cache-control"],
      ({ request }) => request.post("/api/visits"),
    ],
    ["GET /healthz", 200, ["cache-control"], ({ request }) => request.get("/healthz")],
    ["GET /readyz", 200, ["cache-control"], ({ request }) => request.get("/readyz")],
    ["GET /metrics", 200, ["cache-control"], ({ request }) => request.get("/metrics")],
    ["GET /version", 200, [], ({ request }) => request.get("/version")],
    ["HEAD /", 200, ["cache-control"], ({ request }) => request.head("/")],
    [
      "GET a page that does not exist (404)",
      404,
      [],
      ({ request }) => request.get("/no-such-page"),
    ],
    ["DELETE /api/visits (405)", 405, ["allow"], ({ request }) => request.delete("/api/visits")],
    ["POST /healthz (405)", 405, ["allow"], ({ request }) => request.post("/healthz")],
    [
      "POST /api/visits with malformed JSON (400)",
      400,
      [],
      ({ request }) =>
        request.post("/api/visits").set("Content-Type", "application/json").send("{not json"),
    ],
    [
      "POST /api/visits with a body over the limit (413)",
      413,
      [],
      ({ request }) =>
        request
          .post("/api/visits")
          .set("Content-Type", "application/json")
          .send(JSON.stringify({ pad: "x".repeat(64 * 1024) })),
    ],
    [
      "GET /api/visits, store down (503)",
      503,
      ["cache-control", "retry-after"],
      ({ request }) => request.get("/api/visits"),
      { store: down },
    ],
    [
      "GET /readyz, store down (503)",
      503,
      ["cache-control"],
      ({ request }) => request.get("/readyz"),
      { store: down },
    ],
    [
      "GET /, store failing with a bug (500)",
      500,
      ["set-cookie"],
      ({ request }) => request.get("/"),
      { store: broken },
    ],
  ];
  for (const [what, status, routeHeaders, call, overrides] of cases) {
    it(`${what}`, async () => {
      const response = await call(testApp(overrides));
      expect(response.status, what).to.equal(status);
      expectSecurityHeaders(response, what);
      expectExactHeaderSet(response, routeHeaders, what);
    });
  }

  it("GET /readyz while draining (503), with Connection: close", async () => {
    const app = testApp();
    app.readiness.startDraining();
    const response = await app.request.get("/readyz");
    expect(response.status).to.equal(503);
    expect(response.headers.connection).to.equal("close");
    expectSecurityHeaders(response, "GET /readyz while draining");
    expectExactHeaderSet(response, ["cache-control"], "GET /readyz while draining");
  });

  it("are the headers koa-helmet sets per request with the same options", async () => {
    const live = new Koa();
    live.use(helmet(SECURITY_HEADER_OPTIONS));
    live.use((ctx) => {
      ctx.body = "ok";
    });
    const response = await supertest(live.callback()).get("/");
    const fromHelmet = Object.fromEntries(
      Object.keys(SECURITY_HEADERS).map((name) => [name, response.headers[name] as unknown]),
    );
    expect(fromHelmet).to.deep.equal(SECURITY_HEADERS);
    const { set, removed } = computeSecurityHeaders();
    expect(
      Object.fromEntries(set.map(([name, value]) => [name.toLowerCase(), value])),
    ).to.deep.equal(SECURITY_HEADERS);
    expect(removed).to.deep.equal(["X-Powered-By"]);
  });
});
