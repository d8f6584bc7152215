import { access } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.js";
import { redactUrls } from "../output/redact.js";

/**
 * An app's HTTP contract, as pipeline-lib runs it. The checks belong to the
 * app: `app.contract` in the config names a JavaScript module that exports
 * `checks`, and `pipeline test` (against the container) and `pipeline verify`
 * (against the deployed release) run the same ones.
 */
export interface ContractTarget {
  /** Base URL without a trailing slash, such as http://127.0.0.1:49153. */
  baseUrl: string;
  /** When known, the app must report this commit (for example on /version). */
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
  /** Throws to fail; the error's message says what the check saw. */
  run(target: ContractTarget): Promise<void>;
}

export interface CheckResult {
  name: string;
  passed: boolean;
  durationMs: number;
  /** Why it failed. */
  failure?: string;
}

/** Error names that mean "the check saw something wrong", not "the check broke". */
const ASSERTION_NAMES = new Set(["Error", "AssertionError", "ContractViolation"]);

/**
 * Loads the contract module that `app.contract` names. Every problem is a
 * ConfigError (exit 2) that names the file and says what to do.
 */
export async function loadContract(modulePath: string | undefined): Promise<ContractCheck[]> {
  if (!modulePath) {
    throw new ConfigError(
      "the config names no contract: set app.contract to a JavaScript module that exports `checks` " +
        "(an array of { name, run(target) }), for example service/dist/contract/checks.js",
    );
  }
  try {
    await access(modulePath);
  } catch (error) {
    throw new ConfigError(
      `contract module ${modulePath} (app.contract) does not exist; build it (npm run build) or fix app.contract`,
      { cause: error },
    );
  }
  let loaded: { checks?: unknown };
  try {
    loaded = (await import(pathToFileURL(modulePath).href)) as { checks?: unknown };
  } catch (error) {
    throw new ConfigError(
      `contract module ${modulePath} failed to load: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const { checks } = loaded;
  if (!Array.isArray(checks) || checks.length === 0) {
    throw new ConfigError(
      `contract module ${modulePath} must export \`checks\`: a non-empty array of { name, run(target) }`,
    );
  }
  checks.forEach((check: unknown, i) => {
    const c = check as Partial<ContractCheck> | null;
    if (typeof c?.name !== "string" || typeof c.run !== "function") {
      throw new ConfigError(
        `contract module ${modulePath}: checks[${i}] is not a { name: string, run(target) } object`,
      );
    }
  });
  return checks as ContractCheck[];
}

/** Runs every check, never stopping at the first failure. */
export async function runContractChecks(
  checks: readonly ContractCheck[],
  target: Pick<ContractTarget, "baseUrl" | "expectedCommit"> & Partial<ContractTarget>,
): Promise<CheckResult[]> {
  const full: ContractTarget = { fetch: globalThis.fetch, timeoutMs: 5_000, ...target };
  const results: CheckResult[] = [];
  for (const check of checks) {
    const started = performance.now();
    try {
      await check.run(full);
      results.push({ name: check.name, passed: true, durationMs: performance.now() - started });
    } catch (error) {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      const cause =
        error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
      const failure =
        (ASSERTION_NAMES.has(name) ? message : `${name}: ${message}`) +
        (cause ? ` (${cause.message})` : "");
      results.push({
        name: check.name,
        passed: false,
        durationMs: performance.now() - started,
        // fetch names the URL it refused, credentials and all (verify --url https://user:pass@…).
        failure: redactUrls(failure),
      });
    }
  }
  return results;
}
