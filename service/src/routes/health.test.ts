import { expect } from "chai";
import type { VisitStore } from "../store/visit-store.js";
import { testApp } from "../test-support/test-app.js";

const hangingStore: VisitStore = {
  recordVisit: () => new Promise(() => {}),
  read: () => new Promise(() => {}),
  ping: () => new Promise(() => {}),
  close: () => Promise.resolve(),
};

describe("health endpoints", () => {
  it("GET /healthz answers 200 without consulting the store", async () => {
    const { request } = testApp({ store: hangingStore });
    const response = await request.get("/healthz").expect(200);
    expect(response.body).to.deep.equal({ status: "ok" });
  });

  it("GET /readyz answers 200 when the store answers", async () => {
    const { request } = testApp();
    const response = await request.get("/readyz").expect(200);
    expect(response.body).to.deep.equal({ status: "ready" });
    expect(response.headers["cache-control"]).to.equal("no-store");
  });

  it("GET /readyz answers 503 within its timeout when the store hangs", async () => {
    const { request } = testApp({ store: hangingStore, readinessTimeoutMs: 100 });
    const started = Date.now();
    const response = await request.get("/readyz").expect(503);
    expect(Date.now() - started).to.be.below(1_000);
    expect(response.body).to.include({ status: "unavailable" });
  });

  it("GET /readyz answers 503 while draining, and responses ask clients to close", async () => {
    const { request, readiness } = testApp();
    await request.get("/readyz").expect(200);
    readiness.startDraining();
    const response = await request.get("/readyz").expect(503);
    expect(response.body).to.deep.equal({ status: "draining" });
    expect(response.headers.connection).to.equal("close");
    // Liveness and the real work keep going until the listener closes.
    await request.get("/healthz").expect(200);
    await request.post("/api/visits").expect(200);
  });
});
