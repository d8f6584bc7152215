/**
 * The HTTP contract of the visit-counter service, checked the same way against
 * a container started by `pipeline test` and against a deployed app by
 * `pipeline verify`. Each check is independent and says what it saw.
 */
export interface ContractTarget {
  /** Base URL without a trailing slash, such as http://127.0.0.1:49153. */
  baseUrl: string;
  /** When known, /version must report this commit. */
  expectedCommit?: string;
  fetch?: typeof fetch;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export interface ContractCheck {
  name: string;
  run(target: Required<Omit<ContractTarget, "expectedCommit">> & ContractTarget): Promise<void>;
}

export interface CheckResult {
  name: string;
  passed: boolean;
  durationMs: number;
  /** Why it failed. */
  failure?: string;
}

class ContractViolation extends Error {}

function expectThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ContractViolation(message);
}

async function get(
  target: Required<Pick<ContractTarget, "baseUrl" | "fetch" | "timeoutMs">>,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  return target.fetch(`${target.baseUrl}${path}`, {
    ...init,
    signal: AbortSignal.timeout(target.timeoutMs),
    redirect: "manual",
  });
}

interface Visits {
  visits: number;
  uniqueVisitors: number;
}

async function readVisits(response: Response, what: string): Promise<Visits> {
  expectThat(response.status === 200, `${what} answered ${response.status}, expected 200`);
  const type = response.headers.get("content-type") ?? "";
  expectThat(type.includes("application/json"), `${what} answered ${type}, expected JSON`);
  const body = (await response.json()) as Partial<Visits>;
  expectThat(
    Number.isInteger(body.visits) && Number.isInteger(body.uniqueVisitors),
    `${what} body ${JSON.stringify(body)} lacks integer visits and uniqueVisitors`,
  );
  return body as Visits;
}

export const contractChecks: readonly ContractCheck[] = [
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
    name: "POST /api/visits counts one visit",
    async run(t) {
      const before = await readVisits(await get(t, "/api/visits"), "GET /api/visits");
      const after = await readVisits(
        await get(t, "/api/visits", { method: "POST" }),
        "POST /api/visits",
      );
      // Other visitors may count at the same time on a live system, so "at least one more".
      expectThat(
        after.visits >= before.visits + 1,
        `visits went from ${before.visits} to ${after.visits} after a POST`,
      );
    },
  },
  {
    name: "GET /api/visits does not count",
    async run(t) {
      // Two GETs in a row must agree. On a live system another visitor may
      // count in between, so a rise is retried before it is called a failure.
      let seen = "";
      for (let attempt = 1; attempt <= 3; attempt++) {
        const first = await readVisits(await get(t, "/api/visits"), "GET /api/visits");
        const second = await readVisits(await get(t, "/api/visits"), "GET /api/visits");
        expectThat(
          first.uniqueVisitors <= first.visits,
          `more unique visitors than visits: ${JSON.stringify(first)}`,
        );
        if (second.visits === first.visits) return;
        seen += `${seen ? ", " : ""}${first.visits}→${second.visits}`;
      }
      expectThat(
        false,
        `visits rose between two GETs in each of 3 tries (${seen}); GET must not count`,
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

/** Runs every check, never stopping at the first failure. */
export async function runContractChecks(
  target: ContractTarget,
  checks: readonly ContractCheck[] = contractChecks,
): Promise<CheckResult[]> {
  const full = { fetch: globalThis.fetch, timeoutMs: 5_000, ...target };
  const results: CheckResult[] = [];
  for (const check of checks) {
    const started = performance.now();
    try {
      await check.run(full);
      results.push({ name: check.name, passed: true, durationMs: performance.now() - started });
    } catch (error) {
      const failure =
        error instanceof ContractViolation
          ? error.message
          : `${(error as Error).name}: ${(error as Error).message}`;
      results.push({
        name: check.name,
        passed: false,
        durationMs: performance.now() - started,
        failure,
      });
    }
  }
  return results;
}
