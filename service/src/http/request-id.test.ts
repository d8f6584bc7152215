import { expect } from "chai";
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
});
