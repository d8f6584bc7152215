import { expect } from "chai";
import type { VisitStore } from "../store/visit-store.js";
import { testApp } from "../test-support/test-app.js";

describe("error responses", () => {
  it("answers unknown routes with JSON 404", async () => {
    const { request } = testApp();
    const response = await request.get("/nope?x=<b>").expect(404);
    expect(response.type).to.equal("application/json");
    expect(response.body).to.include({ error: "Not Found", message: "Not Found" });
    expect((response.body as { requestId: string }).requestId).to.equal(
      response.headers["x-request-id"],
    );
  });

  it("answers a known route with the wrong method with JSON 405 and an Allow header", async () => {
    const { request } = testApp();
    const response = await request.delete("/api/visits").expect(405);
    expect(response.type).to.equal("application/json");
    expect(response.body).to.include({ error: "Method Not Allowed" });
    expect(response.headers.allow).to.equal("HEAD, GET, POST");

    const page = await request.post("/").expect(405);
    expect(page.headers.allow).to.equal("HEAD, GET");
  });

  it("answers OPTIONS with the allowed methods", async () => {
    const { request } = testApp();
    const response = await request.options("/healthz").expect(200);
    expect(response.headers.allow).to.equal("HEAD, GET");
  });

  it("keeps 5xx bodies generic and logs the details", async () => {
    const broken: VisitStore = {
      recordVisit: () => Promise.reject(new Error("secret internals at /srv/app.js:12")),
      read: () => Promise.reject(new Error("secret internals at /srv/app.js:12")),
      ping: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const { request, logs } = testApp({ store: broken });
    const response = await request.get("/api/visits").expect(500);
    expect(response.body).to.include({
      error: "Internal Server Error",
      message: "Internal Server Error",
    });
    expect(response.text).not.to.include("secret");
    const logged = logs.find((line) => line.msg === "request failed");
    expect(JSON.stringify(logged)).to.include("secret internals");
    expect(logged?.requestId).to.equal(response.headers["x-request-id"]);
  });

  it("rejects a declared body above the limit with 413 before reading it", async () => {
    const { request } = testApp({ bodyLimitBytes: 100 });
    const response = await request
      .post("/api/visits")
      .set("Content-Type", "application/json")
      .send(JSON.stringify({ padding: "x".repeat(200) }))
      .expect(413);
    expect(response.body).to.include({
      error: "Payload Too Large",
      message: "request body is larger than 100 bytes",
    });
  });

  it("rejects malformed JSON with 400", async () => {
    const { request } = testApp();
    const response = await request
      .post("/api/visits")
      .set("Content-Type", "application/json")
      .send("{not json")
      .expect(400);
    expect(response.body).to.include({ error: "Bad Request" });
  });
});
