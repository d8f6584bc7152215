import { commandNames } from "../../pipeline-lib/src/cli.js";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import type { CommandContext } from "../../pipeline-lib/src/commands/context.js";
import {
  lint,
  type LintDeps,
  type LintOptions,
  type LintResult,
} from "../../pipeline-lib/src/commands/lint.js";
import { loadConfig } from "../../pipeline-lib/src/config/load-config.js";
import { StageError } from "../../pipeline-lib/src/errors.js";
import { MemoryReporter } from "../../pipeline-lib/src/output/reporter.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** groovy-all 2.4.21, fetched once by the project's script (a few ms when cached). */
export async function groovyJar(): Promise<string> {
  const { stdout } = await promisify(execFile)("bash", [
    path.join(ROOT, "infra/groovy/ensure-groovy.sh"),
  ]);
  return stdout.trim();
}

/** A context over the config in `cwd` (the repository by default), keeping what lint reports. */
export function lintContext(env: NodeJS.ProcessEnv, cwd = ROOT) {
  const reporter = new MemoryReporter();
  const ctx: CommandContext & { reporter: MemoryReporter } = {
    reporter,
    env,
    cwd,
    config: () => loadConfig({ cwd, env }),
    signal: new AbortController().signal,
  };
  return ctx;
}

const defaults: LintOptions = {
  paths: [],
  skip: [],
  format: "text",
  warningsAsErrors: false,
  serverDryRun: false,
  allowMissingTools: false,
};

/** The findings, whether the lint passed or failed. */
export async function lintFindings(
  options: Partial<LintOptions>,
  ctx: CommandContext & { reporter: MemoryReporter },
  deps: Partial<LintDeps> = {},
): Promise<{ result: LintResult; failed: boolean }> {
  let failed = false;
  try {
    await lint({ ...defaults, ...options }, ctx, { knownCommands: commandNames(), ...deps });
  } catch (error) {
    if (!(error instanceof StageError)) throw error;
    failed = true;
  }
  const result = ctx.reporter.results.at(-1)!.data as LintResult;
  return { result, failed };
}
