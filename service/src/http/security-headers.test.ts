import { expect } from "chai";
import type { Response } from "supertest";
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
  const cases: [string, number, Call, Partial<Parameters<typeof testApp>[0]>?][] = [
    ["GET /", 200, ({ request }) => request.get("/")],
    ["GET /api/visits", 200, ({ request }) => request.get("/api/visits")],
    ["POST /api/visits", 200, ({ request }) => request.post("/api/visits")],
    ["GET /healthz", 200, ({ request }) => request.get("/healthz")],
    ["GET /readyz", 200, ({ request }) => request.get("/readyz")],
    ["GET /metrics", 200, ({ request }) => request.get("/metrics")],
    ["GET /version", 200, ({ request }) => request.get("/version")],
    ["HEAD /", 200, ({ request }) => request.head("/")],
    ["GET a page that does not exist (404)", 404, ({ request }) => request.get("/no-such-page")],
    ["DELETE /api/visits (405)", 405, ({ request }) => request.delete("/api/visits")],
    ["POST /healthz (405)", 405, ({ request }) => request.post("/healthz")],
    [
      "POST /api/visits with malformed JSON (400)",
      400,
      ({ request }) =>
        request.post("/api/visits").set("Content-Type", "application/json").send("{not json"),
    ],
    [
      "POST /api/visits with a body over the limit (413)",
      413,
      ({ request }) =>
        request
          .post("/api/visits")
          .set("Content-Type", "application/json")
          .send(JSON.stringify({ pad: "x".repeat(64 * 1024) })),
    ],
    [
      "GET /api/visits, store down (503)",
      503,
      ({ request }) => request.get("/api/visits"),
      { store: down },
    ],
    [
      "GET /readyz, store down (503)",
      503,
      ({ request }) => request.get("/readyz"),
      { store: down },
    ],
    [
      "GET /, store failing with a bug (500)",
      500,
      ({ request }) => request.get("/"),
      { store: broken },
    ],
  ];
  for (const [what, status, call, overrides] of cases) {
    it(`${what}`, async () => {
      const response = await call(testApp(overrides));
      expect(response.status, what).to.equal(status);
      expectSecurityHeaders(response, what);
    });
  }

  it("GET /readyz while draining (503), with Connection: close", async () => {
    const app = testApp();
    app.readiness.startDraining();
    const response = await app.request.get("/readyz");
    expect(response.status).to.equal(503);
    expect(response.headers.connection).to.equal("close");
    expectSecurityHeaders(response, "GET /readyz while draining");
  });
});
