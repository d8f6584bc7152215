import { mkdir } from "node:fs/promises";
import path from "node:path";
import junitModule, { type Builder } from "junit-report-builder";
import type { CheckResult } from "./contract-checks.js";

// The package is CommonJS with an `export default` declaration: Node hands ESM
// the builder itself, while TypeScript expects it under `.default`.
function junit(): Builder {
  const loaded = junitModule as unknown as Builder | { default: Builder };
  return "default" in loaded ? loaded.default : loaded;
}

/** Writes check results as JUnit XML, which Jenkins' `junit` step reads. */
export async function writeJunitReport(
  file: string,
  suiteName: string,
  results: readonly CheckResult[],
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const builder = junit().newBuilder();
  const suite = builder.testSuite().name(suiteName);
  for (const result of results) {
    const testCase = suite
      .testCase()
      .className(suiteName)
      .name(result.name)
      .time(result.durationMs / 1000);
    if (!result.passed) testCase.failure(result.failure ?? "failed");
  }
  builder.writeTo(file);
}
