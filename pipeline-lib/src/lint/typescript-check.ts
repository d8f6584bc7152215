import { access } from "node:fs/promises";
import path from "node:path";
import type { Finding } from "./finding.js";
import { runTool } from "./run-tool.js";

/**
 * The project's own type check and ESLint, with zero warnings allowed: `tsc
 * --noEmit` over tsconfig.test.json (else tsconfig.json), and `eslint .` with
 * the project's config. Both come from the project's node_modules.
 */
export async function checkTypeScript({
  root,
  env,
  signal,
}: {
  root: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}): Promise<Finding[]> {
  const bin = (name: string) => path.join(root, "node_modules", ".bin", name);
  const tsconfig = (await exists(path.join(root, "tsconfig.test.json")))
    ? "tsconfig.test.json"
    : "tsconfig.json";
  const [tsc, eslint] = await Promise.all([
    runTool(bin("tsc"), ["-p", tsconfig, "--noEmit", "--pretty", "false"], {
      cwd: root,
      env,
      signal,
    }),
    runTool(bin("eslint"), ["--format", "json", "."], { cwd: root, env, signal }),
  ]);
  return [
    ...tscFindings(tsc.stdout, tsc.code, root),
    ...eslintFindings(eslint.stdout, eslint.stderr, root),
  ];
}

/** `file(line,col): error TS1234: message` lines; continuation lines join the message. */
export function tscFindings(output: string, code: number | null, root: string): Finding[] {
  const findings: Finding[] = [];
  for (const line of output.split("\n")) {
    const match = /^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+): (.*)$/.exec(line);
    if (match) {
      findings.push({
        file: relative(root, match[1]!),
        line: Number(match[2]),
        column: Number(match[3]),
        rule: `typescript/${match[5]}`,
        severity: "error",
        message: match[6]!,
      });
    } else if (line.startsWith(" ") && findings.length > 0) {
      const last = findings.pop()!;
      findings.push({ ...last, message: `${last.message} ${line.trim()}` });
    }
  }
  if (findings.length === 0 && code !== 0) {
    findings.push({
      file: "tsconfig.json",
      line: 1,
      rule: "typescript/tsc",
      severity: "error",
      message: `tsc failed (exit ${code}): ${output.trim().split("\n")[0] ?? ""}`,
    });
  }
  return findings;
}

interface EslintResult {
  filePath: string;
  messages: {
    ruleId: string | null;
    severity: 1 | 2;
    message: string;
    line?: number;
    column?: number;
  }[];
}

/** ESLint's JSON; a warning is an error here, as with --max-warnings=0. */
export function eslintFindings(stdout: string, stderr: string, root: string): Finding[] {
  let results: EslintResult[];
  try {
    results = JSON.parse(stdout) as EslintResult[];
  } catch {
    return [
      {
        file: "eslint.config.js",
        line: 1,
        rule: "eslint/config",
        severity: "error",
        message: `eslint failed: ${(stderr || stdout).trim().split("\n")[0] ?? ""}`,
      },
    ];
  }
  return results.flatMap((result) =>
    result.messages.map((m) => ({
      file: relative(root, result.filePath),
      line: m.line ?? 1,
      column: m.column,
      rule: `eslint/${m.ruleId ?? "parse"}`,
      severity: "error" as const,
      message: m.severity === 1 ? `${m.message} (a warning; none are allowed)` : m.message,
    })),
  );
}

function relative(root: string, file: string): string {
  return path.relative(root, path.resolve(root, file)).split(path.sep).join("/");
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
