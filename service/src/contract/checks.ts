/**
 * The visit counter's HTTP contract, owned by the service. pipeline-lib loads
 * this module (`app.contract` in pipeline.config.yaml) and runs the same checks
 * against the container (`pipeline test`) and the deployed release
 * (`pipeline verify`). A check throws to fail; its message says what it saw.
 */
import type { VisitCounts } from "../store/visit-store.js";

/** What pipeline-lib hands each check. */
export interface ContractTarget {
  /** Base URL without a trailing slash, such as http://127.0.0.1:49153. */
  baseUrl: string;
  /** When known, /version must report this commit. */
  expectedCommit?: string | undefined;
  fetch: typeof fetch;
  /** Per-request timeout. */
  timeoutMs: number;
  /**
   * True when real visitors may use the app at the same time (`pipeline
   * verify` against a deployed release): a check must not fail because
   * someone else's request landed in its measurement. False in `pipeline
   * test`, where the app serves the checks alone.
   */
  live?: boolean | undefined;
}

export interface ContractCheck {
  name: string;
  run(target: ContractTarget): Promise<void>;
}

class ContractViolation extends Error {
  override readonly name = "ContractViolation";
}

function expectThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ContractViolation(message);
}

async function get(
  target: ContractTarget,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  return target.fetch(`${target.baseUrl}${path}`, {
    ...init,
    signal: AbortSignal.timeout(target.timeoutMs),
    redirect: "manual",
  });
}

async function readVisits(response: Response, what: string): Promise<VisitCounts> {
  expectThat(response.status === 200, `${what} answered ${response.status}, expected 200`);
  const type = response.headers.get("content-type") ?? "";
  expectThat(type.includes("application/json"), `${what} answered ${type}, expected JSON`);
  const body = (await response.json()) as Partial<VisitCounts>;
  expectThat(
    Number.isInteger(body.visits) && Number.isInteger(body.uniqueVisitors),
    `${what} body ${JSON.stringify(body)} lacks integer visits and uniqueVisitors`,
  );
  return body as VisitCounts;
}

/** Four standard errors of Redis' HyperLogLog (0.81%) above the exact count. */
const HLL_TOLERANCE = 1 + 4 * 0.0081;

/** A short, growing, jittered pause, so retries do not fall in step with periodic traffic. */
function pause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
}

export const checks: readonly ContractCheck[] = [
  {
    name: "GET /healthz answers 200",
    async run(t) {
      const response = await get(t, "/healthz");
      expectThat(response.status === 200, `/healthz answered ${response.status}`);
    },
  },
  {
    name: "GET /readyz answers 200 (Redis reachable)",
    async run(t) {
      const response = await get(t, "/readyz");
      expectThat(
        response.status === 200,
        `/readyz answered ${response.status}: ${(await response.text()).slice(0, 200)}`,
      );
    },
  },
  {
    name: "GET /version reports the build",
    async run(t) {
      const response = await get(t, "/version");
      expectThat(response.status === 200, `/version answered ${response.status}`);
      const body = (await response.json()) as { version?: unknown; commit?: unknown };
      expectThat(
        typeof body.version === "string",
        `/version body ${JSON.stringify(body)} has no version`,
      );
      if (t.expectedCommit) {
        expectThat(
          body.commit === t.expectedCommit,
          `/version reports commit ${String(body.commit)}, expected ${t.expectedCommit}`,
        );
      }
    },
  },
  {
    name: "two POSTs to /api/visits raise the count by exactly 2",
    async run(t) {
      // Other visitors may count at the same time (`live`): each POST must
      // still answer more than the count read before it, and the count never
      // goes down. "Exactly 2" needs a quiet window: in the container there is
      // always one; on a live release, a few tries find one when traffic is
      // light, and the bounds above are the contract when it is not.
      let seen = "";
      const tries = t.live ? 8 : 3;
      for (let attempt = 1; attempt <= tries; attempt++) {
        const before = await readVisits(await get(t, "/api/visits"), "GET /api/visits");
        const first = await readVisits(
          await get(t, "/api/visits", { method: "POST" }),
          "POST /api/visits",
        );
        const second = await readVisits(
          await get(t, "/api/visits", { method: "POST" }),
          "POST /api/visits",
        );
        const after = await readVisits(await get(t, "/api/visits"), "GET /api/visits");
        expectThat(
          first.visits > before.visits,
          `the first POST answered ${first.visits} visits after a GET answered ${before.visits}`,
        );
        expectThat(
          second.visits > first.visits,
          `the second POST answered ${second.visits} visits after the first answered ${first.visits}`,
        );
        expectThat(
          after.visits >= second.visits,
          `the count went down: ${second.visits} after the second POST, then ${after.visits}`,
        );
        if (after.visits - before.visits === 2) return;
        seen += `${seen ? ", " : ""}${before.visits}→${after.visits}`;
        await pause(attempt);
      }
      // Every window had other visitors in it; the bounds above held in each.
      if (t.live) return;
      expectThat(false, `two POSTs moved the count ${seen}; expected exactly +2`);
    },
  },
  {
    name: "GET /api/visits does not count",
    async run(t) {
      // Two GETs in a row must agree. Another visitor may count in between,
      // so a rise is retried before it is called a failure; on a live release
      // where every window is busy, the count must at least never go down.
      let seen = "";
      const tries = t.live ? 8 : 3;
      for (let attempt = 1; attempt <= tries; attempt++) {
        const first = await readVisits(await get(t, "/api/visits"), "GET /api/visits");
        const second = await readVisits(await get(t, "/api/visits"), "GET /api/visits");
        // uniqueVisitors is a HyperLogLog estimate (0.81% standard error): with
        // many distinct visitors it can overshoot the exact count a little.
        expectThat(
          first.uniqueVisitors <= Math.ceil(first.visits * HLL_TOLERANCE) + 1,
          `more unique visitors than visits, beyond the estimate's error: ${JSON.stringify(first)}`,
        );
        expectThat(
          second.visits >= first.visits,
          `the count went down between two GETs: ${first.visits}→${second.visits}`,
        );
        if (second.visits === first.visits) return;
        seen += `${seen ? ", " : ""}${first.visits}→${second.visits}`;
        await pause(attempt);
      }
      if (t.live) return;
      expectThat(
        false,
        `visits rose between two GETs in each of ${tries} tries (${seen}); GET must not count`,
      );
    },
  },
  {
    name: "GET / renders the counter page",
    async run(t) {
      const response = await get(t, "/");
      expectThat(response.status === 200, `/ answered ${response.status}`);
      const type = response.headers.get("content-type") ?? "";
      expectThat(type.startsWith("text/html"), `/ answered ${type}, expected text/html`);
      const html = await response.text();
      expectThat(/<html/i.test(html), "/ is not an HTML page");
      expectThat(
        response.headers.get("x-content-type-options") === "nosniff",
        "/ lacks the X-Content-Type-Options: nosniff security header",
      );
    },
  },
  {
    name: "GET /metrics serves Prometheus metrics",
    async run(t) {
      const response = await get(t, "/metrics");
      expectThat(response.status === 200, `/metrics answered ${response.status}`);
      const text = await response.text();
      expectThat(text.includes("# TYPE"), "/metrics has no Prometheus # TYPE lines");
      expectThat(/process_cpu/.test(text), "/metrics lacks the default process metrics");
    },
  },
  {
    name: "unknown routes answer JSON 404",
    async run(t) {
      const response = await get(t, "/no-such-route-for-contract-check");
      expectThat(response.status === 404, `unknown route answered ${response.status}`);
      expectThat(
        (response.headers.get("content-type") ?? "").includes("application/json"),
        "unknown route did not answer JSON",
      );
    },
  },
];
