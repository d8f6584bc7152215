import { expect } from "chai";
import { createMetrics } from "../metrics/create-metrics.js";
import { testApp } from "../test-support/test-app.js";

describe("GET /metrics", () => {
  it("serves the request histogram by route and status, and the visit counter", async () => {
    const { request } = testApp();
    await request.post("/api/visits").expect(200);
    await request.get("/").expect(200);
    await request.get("/missing").expect(404);
    const response = await request.get("/metrics").expect(200);
    expect(response.type).to.equal("text/plain");
    expect(response.text).to.include("# TYPE http_request_duration_seconds histogram");
    expect(response.text).to.match(
      /http_request_duration_seconds_count\{method="POST",route="\/api\/visits",status="200"\} 1\n/,
    );
    expect(response.text).to.match(
      /http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1\n/,
    );
    expect(response.text).to.include("# TYPE visits_total counter");
    expect(response.text).to.match(/\nvisits_total 2\n/);
  });

  it("includes the default process metrics", async () => {
    const { request } = testApp({ metrics: createMetrics({ collectDefaults: true }) });
    const response = await request.get("/metrics").expect(200);
    expect(response.text).to.include("process_cpu_user_seconds_total");
    expect(response.text).to.include("nodejs_eventloop_lag_seconds");
  });
});
