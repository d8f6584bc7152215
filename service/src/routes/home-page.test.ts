import { expect } from "chai";
import { createHash } from "node:crypto";
import { MemoryVisitStore } from "../store/memory-visit-store.js";
import { testApp, visitorCookie } from "../test-support/test-app.js";

describe("home page", () => {
  it("counts the visit and shows the totals as HTML", async () => {
    const { request } = testApp();
    await request.post("/api/visits");
    const response = await request.get("/").expect(200);
    expect(response.type).to.equal("text/html");
    expect(response.headers["cache-control"]).to.equal("no-store");
    expect(response.text).to.match(/^<!doctype html>/);
    expect(response.text).to.include('<dd data-testid="visits">2</dd>');
    expect(response.text).to.include('<dd data-testid="unique-visitors">2</dd>');
    expect(visitorCookie(response)).to.match(/^visitor_id=/);
  });

  it("formats large numbers with separators", async () => {
    const store = new MemoryVisitStore();
    for (let i = 0; i < 1233; i++) await store.recordVisit("same");
    const { request } = testApp({ store });
    const response = await request.get("/").expect(200);
    expect(response.text).to.include('<dd data-testid="visits">1,234</dd>');
  });

  it("HEAD / renders without counting", async () => {
    const { request } = testApp();
    await request.head("/").expect(200);
    expect((await request.get("/api/visits")).body).to.deep.equal({ visits: 0, uniqueVisitors: 0 });
  });

  it("escapes everything it prints", async () => {
    const { request } = testApp({
      instance: `<script>alert("x")</script>`,
      build: { version: "1.0.0&<b>", commit: `"'x'<i>`, buildTime: "t" },
    });
    const response = await request.get("/").expect(200);
    expect(response.text).not.to.include("<script>");
    expect(response.text).not.to.include("<b>");
    expect(response.text).to.include("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(response.text).to.include("1.0.0&amp;&lt;b&gt;");
    expect(response.text).to.include("(&quot;&#39;x&#39;&lt;i&gt;)");
  });

  it("says when it counts in memory", async () => {
    const { request } = testApp();
    expect((await request.get("/")).text).to.include("Counting in memory");
  });

  it("has no external assets and a CSP that allows only its own inline style", async () => {
    const { request } = testApp();
    const response = await request.get("/").expect(200);
    expect(response.text).not.to.match(/(src|href)="(https?:)?\/\//);
    const csp = response.headers["content-security-policy"] as string;
    expect(csp).to.include("default-src 'none'");
    expect(csp).to.include("frame-ancestors 'none'");
    const styleSource = /style-src ('sha256-[A-Za-z0-9+/=]+')/.exec(csp)?.[1];
    expect(styleSource, csp).to.be.a("string");
    expect(csp).not.to.include("unsafe-inline");

    const style = /<style>([\s\S]*?)<\/style>/.exec(response.text)?.[1] ?? "";
    const hash = `'sha256-${createHash("sha256").update(style).digest("base64")}'`;
    expect(styleSource, "the CSP hash matches the page's stylesheet").to.equal(hash);
  });
});
