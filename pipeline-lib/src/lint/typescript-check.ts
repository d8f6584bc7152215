import { access, mkdir, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { workspaceCacheDir, workspaceKey } from "../cache/workspace-key.js";
import type { Finding } from "./finding.js";
import { runTool } from "./run-tool.js";

/** The files whose content can change what tsc and the type-aware ESLint rules see. */
const TYPE_INPUT = /\.(?:[cm]?[jt]sx?|json)$/;

/**
 * The project's own type check and ESLint, with zero warnings allowed: `tsc
 * --noEmit` over tsconfig.test.json (else tsconfig.json), and `eslint .` with
 * the project's config. Both come from the project's node_modules.
 *
 * With `cacheDir` (default: node_modules/.cache/pipeline-lib under root; none
 * when `cache` is false), both use their own caches. tsc keeps its incremental
 * build info there (`--incremental --tsBuildInfoFile`): it re-checks what a
 * changed file affects, by content. ESLint keeps its cache there
 * (`--cache --cache-strategy content`), which re-lints only the files whose own
 * content or config changed; but the type-aware rules (no-floating-promises…)
 * read other files' types, which ESLint's cache does not track
 * (typescript-eslint/typescript-eslint#4694). So the cache file is named by a
 * key of every TypeScript, JavaScript and JSON file of the workspace and the
 * installed dependencies: a change to any of them starts a new, empty cache
 * and every file is linted; an unchanged tree (or a change to a doc, a script,
 * a manifest) reuses ESLint's results.
 */
export async function checkTypeScript({
  root,
  env,
  signal,
  cache = true,
  cacheDir = workspaceCacheDir(root),
}: {
  root: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  cache?: boolean;
  cacheDir?: string;
}): Promise<Finding[]> {
  const bin = (name: string) => path.join(root, "node_modules", ".bin", name);
  const tsconfig = (await exists(path.join(root, "tsconfig.test.json")))
    ? "tsconfig.test.json"
    : "tsconfig.json";
  const tscArgs = ["-p", tsconfig, "--noEmit", "--pretty", "false"];
  const eslintArgs = ["--format", "json"];
  if (cache) {
    const tscInfo = path.join(cacheDir, "tsc", `${path.basename(tsconfig, ".json")}.tsbuildinfo`);
    await mkdir(path.dirname(tscInfo), { recursive: true });
    tscArgs.push("--incremental", "--tsBuildInfoFile", tscInfo);
    const eslintDir = path.join(cacheDir, "eslint");
    const { key } = await workspaceKey(root, { include: (f) => TYPE_INPUT.test(f) });
    await mkdir(eslintDir, { recursive: true });
    await pruneEslintCaches(eslintDir, `${key.slice(0, 32)}.json`);
    eslintArgs.push(
      "--cache",
      "--cache-strategy",
      "content",
      "--cache-location",
      path.join(eslintDir, `${key.slice(0, 32)}.json`),
    );
  }
  const [tsc, eslint] = await Promise.all([
    runTool(bin("tsc"), tscArgs, { cwd: root, env, signal }),
    runTool(bin("eslint"), [...eslintArgs, "."], { cwd: root, env, signal }),
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

/** ESLint caches of other trees: the newest few stay (a branch switched back to reuses its own). */
async function pruneEslintCaches(dir: string, current: string, keep = 4): Promise<void> {
  const files = await Promise.all(
    (await readdir(dir))
      .filter((f) => f !== current && f.endsWith(".json"))
      .map(async (f) => ({ f, mtime: (await stat(path.join(dir, f))).mtimeMs })),
  );
  files.sort((a, b) => b.mtime - a.mtime);
  await Promise.all(files.slice(keep - 1).map(({ f }) => rm(path.join(dir, f), { force: true })));
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
