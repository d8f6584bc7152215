import { expect } from "chai";
import { StoreUnavailableError } from "../store/visit-store.js";
import { testApp, visitorCookie } from "../test-support/test-app.js";

describe("visits API", () => {
  it("GET /api/visits reads the counts without counting", async () => {
    const { request } = testApp();
    for (let i = 0; i < 2; i++) {
      const response = await request.get("/api/visits").expect(200);
      expect(response.type).to.equal("application/json");
      expect(response.body).to.deep.equal({ visits: 0, uniqueVisitors: 0 });
      expect(response.headers["set-cookie"]).to.equal(undefined);
    }
  });

  it("POST /api/visits counts one visit and returns the new counts", async () => {
    const { request } = testApp();
    const first = await request.post("/api/visits").expect(200);
    expect(first.body).to.deep.equal({ visits: 1, uniqueVisitors: 1 });
    const cookie = visitorCookie(first);

    const again = await request.post("/api/visits").set("Cookie", cookie).expect(200);
    expect(again.body).to.deep.equal({ visits: 2, uniqueVisitors: 1 });
    expect(again.headers["set-cookie"], "a known visitor keeps the cookie").to.equal(undefined);

    const stranger = await request.post("/api/visits").expect(200);
    expect(stranger.body).to.deep.equal({ visits: 3, uniqueVisitors: 2 });
    expect((await request.get("/api/visits")).body).to.deep.equal({ visits: 3, uniqueVisitors: 2 });
  });

  it("issues a new id for a forged visitor cookie", async () => {
    const { request } = testApp();
    const response = await request
      .post("/api/visits")
      .set("Cookie", "visitor_id=<script>")
      .expect(200);
    expect(visitorCookie(response)).to.match(/^visitor_id=[0-9a-f-]{36}$/);
  });

  it("sets the visitor cookie HttpOnly and SameSite=Lax for a year", async () => {
    const { request } = testApp();
    const response = await request.post("/api/visits").expect(200);
    const [cookie = ""] = response.headers["set-cookie"] as unknown as string[];
    expect(cookie).to.match(/^visitor_id=[0-9a-f-]{36}; /);
    expect(cookie).to.match(/; path=\/(;|$)/);
    expect(cookie).to.match(/; httponly(;|$)/);
    expect(cookie).to.match(/; samesite=lax(;|$)/);
    const expires = Date.parse(/; expires=([^;]+)/.exec(cookie)?.[1] ?? "");
    expect(expires - Date.now()).to.be.within(364 * 86_400_000, 366 * 86_400_000);
    expect(cookie).not.to.match(/; secure/);
  });

  it("marks the cookie Secure behind a trusted TLS-terminating proxy", async () => {
    const { request } = testApp({ trustProxy: true });
    const response = await request.post("/api/visits").set("X-Forwarded-Proto", "https");
    const [cookie] = response.headers["set-cookie"] as unknown as string[];
    expect(cookie).to.match(/; secure(;|$)/);
  });

  it("answers 503 JSON with Retry-After when the store is unavailable", async () => {
    const down = {
      recordVisit: () =>
        Promise.reject(new StoreUnavailableError("Redis could not ping: ECONNREFUSED")),
      read: () => Promise.reject(new StoreUnavailableError("Redis could not ping: ECONNREFUSED")),
      ping: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const { request } = testApp({ store: down });
    for (const response of [await request.post("/api/visits"), await request.get("/api/visits")]) {
      expect(response.status).to.equal(503);
      expect(response.headers["retry-after"]).to.equal("1");
      expect(response.body).to.include({
        error: "Service Unavailable",
        message: "the visit store is unavailable; try again shortly",
      });
      expect(JSON.stringify(response.body)).not.to.include("ECONNREFUSED");
    }
  });
});
