import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { findGroovyJar } from "../../pipeline-lib/src/lint/groovy-syntax.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
const HARNESS = path.join(ROOT, "test/jenkins/Harness.groovy");

/** One recorded step of a harness run. */
export interface Step {
  stage: string | null;
  /** `steps`, `post.<condition>`, or before the steps: `options`, `input` (the directive), `agent`. */
  phase: string;
  /** The workspace of the agent it ran on (`ws-1`, `ws-2`, …), null when the run held none. */
  workspace: string | null;
  step: string;
  script?: string;
  message?: string;
  testResults?: string;
  artifacts?: string;
  bindings?: { type: string; id: string; variables: string[] }[];
  /** `input`. */
  ok?: string;
  submitter?: string;
  /** `input`: the timeouts around it, outermost first (`scope`: `pipeline`, `stage <name>`, `step`). */
  timeouts?: { time: number; unit: string; scope: string }[];
  /** `milestone`. */
  ordinal?: number;
  /** withEnv: the variables it sets. */
  variables?: string[];
  label?: string;
  /** `timeout`. */
  time?: number;
  unit?: string;
  /** `lock`. */
  resource?: string;
  /** `agent` (the stage's or the pipeline's) and `node`: what was asked for. */
  agent?: unknown;
  /** `stash` and `unstash`; `from`: the workspace the stash was made in. */
  name?: string;
  includes?: string;
  from?: string;
}

/** A stage as the file declares it. */
export interface StageTree {
  name: string;
  /** Its own `agent`: `any`, `none`, a map such as `{ label: "x" }`, or null (its parent's). */
  agent: unknown;
  tools: Record<string, string>;
  options: Record<string, unknown>[];
  /** The stage-level `input` directive. */
  input: Record<string, string> | null;
  stages: StageTree[] | null;
}

/** What the harness prints for a scenario. */
export interface Trace {
  name: string;
  rejected?: string;
  result: string;
  /** Every stage, parents before their nested stages (`parents`: outermost first). */
  stages: { name: string; status: string; parents: string[]; leaf: boolean }[];
  steps: Step[];
  secrets: string[];
  options: Record<string, unknown>[];
  parameters: Record<string, unknown>[];
  tools: Record<string, string>;
  agent: unknown;
  tree: StageTree[];
  env: Record<string, string>;
}

export interface Scenario {
  name: string;
  jenkinsfile: string;
  branch?: string | undefined;
  changeRequest?: { id: string; target: string; branch: string };
  params?: Record<string, unknown>;
  /** Environment variables Jenkins sets for every job (global properties). */
  env?: Record<string, string>;
  previousResult?: string;
  /** That step fails (in `stage` only, when given). */
  fail?: { step: string; matches: string; stage?: string }[];
  /** How the `input` is answered; `timeout`: the innermost timeout around it expires. */
  input?: "proceed" | "abort" | "timeout";
  /** While this build waits in an `input`, a newer build passes the milestone of this ordinal. */
  newerBuildPassed?: number;
  /** Shared libraries' vars/ folders by name (pipeline-lib: pipeline-lib/vars). */
  libraries?: Record<string, string>;
}

/** Runs every scenario in one JVM (about 2 s); the harness prints one trace each. */
export async function runHarness(
  scenarios: Scenario[],
): Promise<{ code: number; traces: Trace[]; stderr: string }> {
  const jar = await findGroovyJar(process.env);
  const dir = await mkdtemp(path.join(os.tmpdir(), "jenkins-harness-"));
  try {
    const file = path.join(dir, "scenarios.json");
    await writeFile(file, JSON.stringify({ scenarios }));
    const child = spawn(
      "java",
      ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", jar, "groovy.ui.GroovyMain"].concat([
        HARNESS,
        "Jenkinsfile.dev",
        file,
      ]),
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (exit) => resolve(exit ?? -1));
    });
    if (code !== 0 && code !== 3) throw new Error(`the harness exited ${code}: ${stderr}`);
    return { code, traces: JSON.parse(stdout) as Trace[], stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The trace's `sh` scripts, every phase. */
export const commands = (trace: Trace) =>
  trace.steps.filter((s) => s.step === "sh").map((s) => s.script);

/** The `sh` scripts of the stages' steps (not their post blocks). */
export const stageCommands = (trace: Trace) =>
  trace.steps.filter((s) => s.step === "sh" && s.phase === "steps").map((s) => s.script);

export const statuses = (trace: Trace) =>
  Object.fromEntries(trace.stages.map((s) => [s.name, s.status]));

/** The stages that run steps (not the parents of nested stages), in order. */
export const leafStages = (trace: Trace) => trace.stages.filter((s) => s.leaf);

/** Every credential value the harness handed out that appears in an sh, echo or error, with where. */
export function leakedSecrets(trace: Trace): string[] {
  const leaks: string[] = [];
  for (const step of trace.steps.filter((s) => ["sh", "echo", "error"].includes(s.step))) {
    const text = step.script ?? step.message ?? "";
    for (const secret of trace.secrets) {
      if (text.includes(secret)) leaks.push(`${step.stage ?? "-"} ${step.step}: ${secret}`);
    }
  }
  return leaks;
}
