import { expect } from "chai";
import { testApp } from "../test-support/test-app.js";

describe("security headers", () => {
  for (const path of ["/", "/api/visits", "/no-such-page"]) {
    it(`are set on ${path}`, async () => {
      const { request } = testApp();
      const response = await request.get(path);
      expect(response.headers).to.include({
        "x-content-type-options": "nosniff",
        "x-frame-options": "SAMEORIGIN",
        "referrer-policy": "no-referrer",
      });
      expect(response.headers["content-security-policy"]).to.include("default-src 'none'");
      expect(response.headers).not.to.have.property("x-powered-by");
    });
  }
});
