import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

/** The shipped bin, as Jenkins runs it. */
export const PIPELINE_BIN = path.resolve(import.meta.dirname, "../../bin/pipeline.js");

/** How a child process ended, and everything it printed. */
export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from start to exit. */
  ms: number;
}

export interface StartedProcess {
  child: ChildProcess;
  /** Everything printed so far, stdout then stderr. */
  output(): string;
  done: Promise<ProcessRun>;
}

export interface ProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts a command with no standard input, collecting its output; never throws for a non-zero exit. */
export function startProcess(
  command: string,
  args: readonly string[],
  { cwd, env }: ProcessOptions = {},
): StartedProcess {
  const started = performance.now();
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<ProcessRun>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
  return { child, output: () => stdout + stderr, done };
}

export function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions = {},
): Promise<ProcessRun> {
  return startProcess(command, args, options).done;
}

/** Runs the shipped `pipeline` bin on this Node: a real process, real exit codes. */
export function runPipelineBin(args: readonly string[], options: ProcessOptions = {}) {
  return runProcess(process.execPath, [PIPELINE_BIN, ...args], options);
}

export function startPipelineBin(args: readonly string[], options: ProcessOptions = {}) {
  return startProcess(process.execPath, [PIPELINE_BIN, ...args], options);
}
