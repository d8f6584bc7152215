import { expect } from "chai";
import { testApp } from "../test-support/test-app.js";

describe("GET /version", () => {
  it("returns the build information it was given", async () => {
    const build = { version: "2.0.1", commit: "abc123", buildTime: "2026-11-25T10:00:00Z" };
    const { request } = testApp({ build });
    const response = await request.get("/version").expect(200);
    expect(response.body).to.deep.equal(build);
  });

  it("says when it runs outside a built image", async () => {
    const { request } = testApp();
    const response = await request.get("/version").expect(200);
    expect(response.body).to.deep.equal({
      version: "0.0.0-dev",
      commit: "unknown",
      buildTime: "unknown",
    });
  });
});
