import { expect } from "chai";
import { Counter, Histogram, Registry } from "prom-client";
import {
  canaryReplicas,
  histogramQuantile,
  increaseSince,
  judge,
  parseExposition,
  requestHistogram,
  trackStats,
  type HistogramSpec,
  type TrackStats,
} from "./canary-analysis.js";

const SPEC: HistogramSpec = {
  histogram: "http_request_duration_seconds",
  statusLabel: "status",
  routeLabel: "route",
  ignoreRoutes: new Set(["/healthz", "/readyz", "/metrics"]),
};

/** An app's registry as prom-client serves it, with the service's buckets. */
function app() {
  const registry = new Registry();
  const histogram = new Histogram({
    name: "http_request_duration_seconds",
    help: "Duration of HTTP requests",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Counter({ name: "visits_total", help: "visits", registers: [registry] }).inc(3);
  const observe = (route: string, status: number, seconds: number, times = 1) => {
    for (let i = 0; i < times; i++) histogram.labels("GET", route, String(status)).observe(seconds);
  };
  return { registry, observe, read: async () => requestHistogram(await registry.metrics(), SPEC) };
}

const stats = (over: Partial<TrackStats>): TrackStats => ({
  pods: 1,
  requests: 100,
  errors: 0,
  errorRate: 0,
  p99Seconds: 0.01,
  ...over,
});
const LIMITS = { minRequests: 50, maxErrorRateIncrease: 0.01, maxP99IncreaseMs: 100 };

describe("canary analysis", () => {
  describe("parseExposition", () => {
    it("reads names, escaped label values, special values and timestamps; skips comments and broken lines", () => {
      const samples = parseExposition(
        [
          "# HELP x help",
          "# TYPE x counter",
          'x{path="C:\\\\DIR",msg="say \\"hi\\"\\nbye",} 3 1395066363000',
          "y +Inf",
          "z NaN",
          'broken{a="unterminated} 1',
          "no_value",
          "",
        ].join("\n"),
      );
      expect(samples.map((s) => s.name)).to.deep.equal(["x", "y", "z"]);
      expect(samples[0]!.labels).to.deep.equal({ path: "C:\\DIR", msg: 'say "hi"\nbye' });
      expect(samples[0]!.value).to.equal(3);
      expect(samples[1]!.value).to.equal(Infinity);
      expect(samples[2]!.value).to.be.NaN;
    });
  });

  describe("requestHistogram", () => {
    it("keeps each labelled series apart, with its buckets and count, and leaves the ignored routes out", async () => {
      const { observe, read } = app();
      observe("/version", 200, 0.003, 4);
      observe("/version", 500, 0.02);
      observe("/healthz", 200, 0.001, 50);
      const histogram = await read();
      const series = [...histogram.values()];
      expect(series.map((s) => [s.status, s.count])).to.have.deep.members([
        ["200", 4],
        ["500", 1],
      ]);
      const ok = series.find((s) => s.status === "200")!;
      expect(ok.buckets.at(-1)).to.deep.equal([Infinity, 4]);
      expect(ok.buckets.find(([le]) => le === 0.005)).to.deep.equal([0.005, 4]);
    });
  });

  describe("increaseSince", () => {
    it("subtracts what a pod had said before", async () => {
      const { observe, read } = app();
      observe("/", 200, 0.003, 10);
      const before = await read();
      observe("/", 200, 0.003, 5);
      observe("/", 503, 0.003, 2);
      const stats = trackStats([increaseSince(before, await read())]);
      expect([stats.requests, stats.errors]).to.deep.equal([7, 2]);
    });

    it("after a restart (counters went down) counts everything the pod says now, never a negative rate", async () => {
      const first = app();
      first.observe("/", 200, 0.003, 100);
      const before = await first.read();
      const restarted = app();
      restarted.observe("/", 200, 0.003, 3);
      restarted.observe("/", 500, 0.003, 1);
      const stats = trackStats([increaseSince(before, await restarted.read())]);
      expect([stats.requests, stats.errors]).to.deep.equal([4, 1]);
    });

    it("a pod first seen during the window counts all it served", async () => {
      const { observe, read } = app();
      observe("/", 200, 0.003, 6);
      expect(trackStats([increaseSince(undefined, await read())]).requests).to.equal(6);
    });
  });

  describe("histogramQuantile, as Prometheus computes it", () => {
    const table: [string, [number, number][], number | undefined][] = [
      [
        "no observations",
        [
          [0.1, 0],
          [Infinity, 0],
        ],
        undefined,
      ],
      [
        "interpolated inside the first bucket, from 0",
        [
          [0.1, 100],
          [Infinity, 100],
        ],
        0.099,
      ],
      [
        "interpolated inside a later bucket",
        [
          [0.1, 50],
          [0.2, 100],
          [Infinity, 100],
        ],
        0.198,
      ],
      [
        "in the +Inf bucket: the highest finite bound",
        [
          [0.1, 50],
          [Infinity, 100],
        ],
        0.1,
      ],
      ["no +Inf bucket: not a histogram", [[0.1, 5]], undefined],
    ];
    for (const [what, buckets, expected] of table) {
      it(what, () => {
        const q = histogramQuantile(0.99, buckets);
        if (expected === undefined) expect(q).to.equal(undefined);
        else expect(q).to.be.closeTo(expected, 1e-9);
      });
    }

    it("over pods: +200 ms on every answer puts the canary's p99 past stable's by far more than 100 ms", async () => {
      const stable = app();
      const canary = app();
      stable.observe("/", 200, 0.004, 200);
      canary.observe("/", 200, 0.204, 60);
      const s = trackStats([await stable.read()]);
      const c = trackStats([await canary.read()]);
      expect(s.p99Seconds!).to.be.below(0.005);
      expect(c.p99Seconds!).to.be.within(0.1, 0.25);
    });
  });

  describe("judge", () => {
    it("passes a canary as good as stable", () => {
      expect(judge(stats({}), stats({}), LIMITS).kind).to.equal("pass");
    });

    it("fails a 5xx share more than the allowed points above stable's, with both numbers", () => {
      const verdict = judge(stats({ errors: 20, errorRate: 0.2 }), stats({}), LIMITS);
      expect(verdict.kind).to.equal("fail");
      expect(verdict.kind === "fail" && verdict.failures).to.deep.equal([
        "5xx share 20.0% against stable's 0.0% (at most 1.0 points more allowed)",
      ]);
    });

    it("lets a canary through whose errors stable has too (an old bug is not this release's)", () => {
      const same = { errors: 5, errorRate: 0.05 };
      expect(judge(stats(same), stats(same), LIMITS).kind).to.equal("pass");
    });

    it("fails a p99 more than the allowed milliseconds above stable's", () => {
      const verdict = judge(stats({ p99Seconds: 0.25 }), stats({ p99Seconds: 0.01 }), LIMITS);
      expect(verdict.kind === "fail" && verdict.failures[0]).to.equal(
        "p99 latency 250 ms against stable's 10 ms (+240 ms; at most +100 ms allowed)",
      );
    });

    it("never passes on too little traffic, on either side", () => {
      for (const [canary, stable] of [
        [stats({ requests: 10 }), stats({})],
        [stats({}), stats({ requests: 0, errorRate: undefined, p99Seconds: undefined })],
      ] as const) {
        const verdict = judge(canary, stable, LIMITS);
        expect(verdict.kind).to.equal("too-little-data");
        expect(verdict.summary).to.match(
          /too little traffic to judge: .* of the 50 requests each side needs/,
        );
      }
    });
  });

  describe("canaryReplicas: the step's share beside every stable pod", () => {
    const table: [number, number, number][] = [
      [3, 25, 1],
      [3, 50, 3],
      [2, 25, 1],
      [10, 10, 1],
      [10, 50, 10],
      [1, 1, 1],
    ];
    for (const [stable, weight, canary] of table) {
      it(`${weight}% beside ${stable} stable is ${canary}`, () => {
        expect(canaryReplicas(stable, weight)).to.equal(canary);
      });
    }
    it("refuses a weight outside 1..99", () => {
      expect(() => canaryReplicas(3, 100)).to.throw(RangeError);
    });
  });
});
