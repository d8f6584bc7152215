import { spawn } from "node:child_process";
import { StageError, UsageError } from "../errors.js";
import { systemClock, type Clock } from "../output/reporter.js";
import {
  stageDefinitions,
  type PipelineName,
  type StageDefinition,
} from "../stages/stage-definitions.js";
import { describeWhen, stageRuns } from "../stages/when.js";
import type { CommandContext } from "./context.js";

export interface RunOptions {
  pipeline: PipelineName;
  /** Start at this stage id (inclusive). */
  from?: string;
  /** Stop after this stage id (inclusive). */
  to?: string;
  /** Print the plan without running it. */
  dryRun: boolean;
  /**
   * Skip the stages Jenkins would skip on this branch (`PR-<n>` for a pull
   * request), by their `when`. Without it every stage runs, whatever its `when`.
   */
  branch?: string;
}

export interface StageRun {
  id: string;
  title: string;
  command: string;
  status: "passed" | "failed" | "skipped" | "not run";
  durationMs?: number;
  exitCode?: number | null;
}

export interface RunDeps {
  stages: Record<PipelineName, readonly StageDefinition[]>;
  clock: Clock;
}

/**
 * Runs a pipeline's stages locally, in the order Jenkins runs them, each as the
 * one shell command its Jenkinsfile stage runs. Stops at the first failure.
 * Every stage runs whatever its `when`, unless `branch` says which branch to
 * behave as; an approval (`input`) is never asked: running it is the approval.
 */
export async function run(
  options: RunOptions,
  ctx: CommandContext,
  deps: Partial<RunDeps> = {},
): Promise<StageRun[]> {
  const { reporter } = ctx;
  const clock = deps.clock ?? systemClock;
  const all = (deps.stages ?? stageDefinitions)[options.pipeline];
  const selected = selectStages(all, options);
  const branch = options.branch;
  const skipped = (s: StageDefinition) => branch !== undefined && !stageRuns(s, { branch });
  const runs: StageRun[] = selected.map((s) => ({
    ...pick(s),
    status: skipped(s) ? "skipped" : "not run",
  }));
  const skipNote = (s: StageDefinition) =>
    skipped(s) ? ` (skipped on ${branch}: only when ${describeWhen(s)})` : "";

  if (options.dryRun) {
    reporter.result(
      selected.map((s, i) => `${i + 1}. ${s.title}: ${s.command}${skipNote(s)}`).join("\n"),
      { pipeline: options.pipeline, stages: runs },
    );
    return runs;
  }

  for (const [i, stage] of selected.entries()) {
    if (skipped(stage)) {
      reporter.progress(`stage ${i + 1}/${selected.length} ${stage.title}${skipNote(stage)}`);
      continue;
    }
    reporter.progress(`stage ${i + 1}/${selected.length} ${stage.title}: ${stage.command}`);
    const started = clock.now();
    const exitCode = await runShell(stage.command, ctx);
    const entry = runs[i]!;
    entry.durationMs = clock.now() - started;
    entry.exitCode = exitCode;
    entry.status = exitCode === 0 ? "passed" : "failed";
    if (exitCode === 0 && stage.input) {
      reporter.progress(
        `${stage.title}: Jenkins asks "${stage.input.message}" here; not asked locally`,
      );
    }
    if (exitCode !== 0) {
      const notRun = selected
        .slice(i + 1)
        .filter((s) => !skipped(s))
        .map((s) => s.title);
      throw new StageError(
        `stage "${stage.title}" failed (${describeExit(exitCode)}) after ${seconds(entry.durationMs)}: ${stage.command}` +
          (notRun.length ? `\nnot run: ${notRun.join(", ")}` : ""),
      );
    }
  }
  reporter.result(
    `${options.pipeline} pipeline passed:\n` +
      runs
        .map(
          (r) =>
            `  ${r.title.padEnd(24)} ${r.status === "skipped" ? "skipped" : seconds(r.durationMs ?? 0)}`,
        )
        .join("\n"),
    { pipeline: options.pipeline, stages: runs },
  );
  return runs;
}

function selectStages(
  all: readonly StageDefinition[],
  { pipeline, from, to }: RunOptions,
): readonly StageDefinition[] {
  const indexOf = (id: string, option: string) => {
    const index = all.findIndex((s) => s.id === id);
    if (index < 0) {
      throw new UsageError(
        `${option} ${id}: the ${pipeline} pipeline has no such stage; its stages are ${all.map((s) => s.id).join(", ")}`,
      );
    }
    return index;
  };
  const start = from ? indexOf(from, "--from") : 0;
  const end = to ? indexOf(to, "--to") : all.length - 1;
  if (start > end) throw new UsageError(`--from ${from} comes after --to ${to}`);
  return all.slice(start, end + 1);
}

function pick({ id, title, command }: StageDefinition) {
  return { id, title, command };
}

/**
 * Runs a command the way Jenkins' `sh` step does. Its output goes to stderr
 * with the progress lines, keeping stdout for the result (`--json`).
 */
function runShell(command: string, ctx: CommandContext): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], {
      cwd: ctx.cwd,
      env: ctx.env,
      stdio: ["inherit", process.stderr, process.stderr],
    });
    child.on("error", (error) =>
      reject(new StageError(`cannot run sh -c ${command}`, { cause: error })),
    );
    child.on("close", (code, signal) => resolve(signal ? null : code));
  });
}

function describeExit(code: number | null): string {
  return code === null ? "killed by a signal" : `exit code ${code}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
