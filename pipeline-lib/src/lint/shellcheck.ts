import type { Finding } from "./finding.js";
import { isNotInstalled, runTool } from "./run-tool.js";

export const HOW_TO_GET_SHELLCHECK = "install it: `apt-get install -y shellcheck` (Debian, Ubuntu)";

export class ShellcheckUnavailable extends Error {}

interface Comment {
  file: string;
  line: number;
  column: number;
  level: "error" | "warning" | "info" | "style";
  code: number;
  message: string;
}

/** ShellCheck's findings over `files` (relative to `cwd`): its errors and warnings are errors, its info and style notes warnings. */
export async function runShellcheck(
  files: readonly string[],
  { cwd, env, signal }: { cwd: string; env: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<Finding[]> {
  if (files.length === 0) return [];
  let run;
  try {
    // -x follows `source` into files given on the command line, as the scripts do.
    run = await runTool(
      "shellcheck",
      ["--format=json1", "--external-sources", "--source-path=SCRIPTDIR", ...files],
      {
        cwd,
        env,
        signal,
      },
    );
  } catch (error) {
    if (isNotInstalled(error)) {
      throw new ShellcheckUnavailable(`shellcheck is missing: ${HOW_TO_GET_SHELLCHECK}`);
    }
    throw error;
  }
  let comments: Comment[];
  try {
    comments = (JSON.parse(run.stdout) as { comments: Comment[] }).comments;
  } catch (error) {
    throw new Error(`shellcheck failed (exit ${run.code}): ${run.stderr.trim()}`, {
      cause: error,
    });
  }
  return comments.map((c) => ({
    file: c.file,
    line: c.line,
    column: c.column,
    rule: `shell/SC${c.code}`,
    severity: c.level === "error" || c.level === "warning" ? "error" : "warning",
    message: c.message,
  }));
}
