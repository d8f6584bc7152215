import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface GitOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Runs git and returns its trimmed stdout; a failure carries git's stderr. */
export async function git(args: readonly string[], options: GitOptions): Promise<string> {
  const child = execFileAsync("git", args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (options.input !== undefined) child.child.stdin?.end(options.input);
  try {
    const { stdout } = await child;
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`git ${args[0]} failed in ${options.cwd}${stderr ? `: ${stderr}` : ""}`, {
      cause: error,
    });
  }
}
