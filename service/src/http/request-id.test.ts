import { expect } from "chai";
import { StoreUnavailableError, type VisitStore } from "../store/visit-store.js";
import { testApp } from "../test-support/test-app.js";

describe("request ids", () => {
  it("keeps a sane X-Request-Id from upstream and logs it", async () => {
    const { request, logs } = testApp();
    const response = await request.get("/healthz").set("X-Request-Id", "edge-42.a:b_c").expect(200);
    expect(response.headers["x-request-id"]).to.equal("edge-42.a:b_c");
    const accessLine = logs.find((line) => line.msg === "request");
    expect(accessLine).to.include({
      requestId: "edge-42.a:b_c",
      method: "GET",
      path: "/healthz",
      status: 200,
    });
  });

  for (const [name, incoming] of [
    ["missing", undefined],
    ["with spaces and markup", "<script> alert"],
    ["too long", "a".repeat(129)],
  ] as const) {
    it(`generates one when the incoming id is ${name}`, async () => {
      const { request } = testApp();
      const call = request.get("/healthz");
      if (incoming !== undefined) void call.set("X-Request-Id", incoming);
      const response = await call.expect(200);
      expect(response.headers["x-request-id"]).to.match(/^[0-9a-f-]{36}$/);
    });
  }

  it("writes one access line per request, with the id the response carries", async () => {
    const { request, logs } = testApp();
    const ids: string[] = [];
    for (const path of ["/", "/api/visits", "/healthz", "/no-such-page"]) {
      ids.push(String((await request.get(path)).headers["x-request-id"]));
    }
    const access = logs.filter((line) => line.msg === "request");
    expect(
      access.map((line) => [line.requestId, line.method, line.path, line.status]),
    ).to.deep.equal([
      [ids[0], "GET", "/", 200],
      [ids[1], "GET", "/api/visits", 200],
      [ids[2], "GET", "/healthz", 200],
      [ids[3], "GET", "/no-such-page", 404],
    ]);
    for (const line of access) {
      expect(line.durationMs).to.be.a("number").and.at.least(0);
      expect(line).to.include({ level: 30 });
    }
  });

  it("binds the id to the lines a request logs besides its access line", async () => {
    const down: VisitStore = {
      recordVisit: () => Promise.reject(new StoreUnavailableError("ECONNREFUSED")),
      read: () => Promise.reject(new StoreUnavailableError("ECONNREFUSED")),
      ping: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const { request, logs } = testApp({ store: down });
    await request.get("/api/visits").set("X-Request-Id", "outage-1").expect(503);
    expect(logs.map((line) => [line.msg, line.requestId])).to.deep.equal([
      ["store unavailable", "outage-1"],
      ["request", "outage-1"],
    ]);
  });
});
