import { execFile, spawn } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { cacheDisabled, workspaceCacheDir, workspaceKey } from "../cache/workspace-key.js";
import { StageError, UsageError } from "../errors.js";
import type { CommandContext } from "./context.js";

export interface CachedOptions {
  /** What the command checks, e.g. `unit-tests`: names its records and its log lines. */
  name: string;
  /** The command and its arguments, run without a shell. */
  command: string[];
  /** Files the command writes (a JUnit report), kept with a pass and put back on a hit. */
  reports: string[];
  /** Run the command whatever was recorded (also PIPELINE_NO_CACHE=1). */
  cache: boolean;
}

export interface CachedResult {
  /** `reused`: a passing run had these inputs, the command did not run. */
  outcome: "reused" | "passed";
  key: string;
  /** When the reused pass ran (ISO 8601). */
  passedAt?: string;
}

/** A recorded pass, `<key>.json` in the cache, its reports beside it. */
interface PassRecord {
  key: string;
  name: string;
  command: string[];
  passedAt: string;
  durationMs: number;
  reports: string[];
}

/** How many passes each name keeps (the newest), so switching branches back still hits. */
const KEEP = 8;

/**
 * Runs a check unless a passing run had exactly the same inputs. The key
 * (cache/workspace-key.ts) covers every tracked or untracked-but-not-ignored
 * file of the git workspace by content, the installed dependencies, the
 * Node.js version, the name, the command and its report paths: any change to
 * any of them runs the command. Only a pass is recorded, with the reports it
 * wrote, under node_modules/.cache/pipeline-lib/cached/<name>/ (outside the
 * tracked files; a real `npm ci` empties it, and a fresh Jenkins workspace
 * has none). A hit writes the reports back (with a new mtime, so Jenkins'
 * `junit` takes them as this build's) and says so in the log.
 */
export async function cached(options: CachedOptions, ctx: CommandContext): Promise<CachedResult> {
  const { reporter } = ctx;
  const { name } = options;
  if (options.command.length === 0) {
    throw new UsageError("cached needs the command to run after --, e.g. -- npm run test:fast");
  }
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name)) {
    throw new UsageError(`cached ${name}: the name is letters, digits, ".", "_" and "-"`);
  }
  const root = await gitRoot(ctx.cwd);
  const dir = workspaceCacheDir(root, "cached", name);
  // Report paths relative to the workspace root, so the key does not depend on the cwd.
  const reports = options.reports.map((r) => path.resolve(ctx.cwd, r));
  const relReports = reports.map((r) => path.relative(root, r).split(path.sep).join("/"));
  const keyOf = () =>
    workspaceKey(root, {
      extra: [
        `name ${name}`,
        `cwd ${path.relative(root, ctx.cwd).split(path.sep).join("/")}`,
        `command ${JSON.stringify(options.command)}`,
        `reports ${JSON.stringify(relReports)}`,
      ],
    });
  const { key, files } = await keyOf();
  const short = key.slice(0, 12);
  const forced = !options.cache || cacheDisabled(ctx.env);

  if (!forced) {
    const record = await readRecord(dir, key);
    if (record) {
      await Promise.all(reports.map((report, i) => restore(path.join(dir, `${key}.${i}`), report)));
      reporter.progress(
        `${name}: inputs unchanged since a passing run at ${record.passedAt} (key ${short}, ${files} files)` +
          (relReports.length ? `, report reused: ${relReports.join(", ")}` : "") +
          `; not run again (--no-cache or PIPELINE_NO_CACHE=1 runs it)`,
      );
      reporter.result(`${name}: passed before with these inputs; not run`, {
        name,
        outcome: "reused",
        key,
        passedAt: record.passedAt,
      });
      return { outcome: "reused", key, passedAt: record.passedAt };
    }
  }
  reporter.progress(
    forced
      ? `${name}: cache not used (${options.cache ? "PIPELINE_NO_CACHE" : "--no-cache"}); running ${options.command.join(" ")}`
      : `${name}: no passing run with these inputs (key ${short}, ${files} files); running ${options.command.join(" ")}`,
  );
  // A report left by an earlier run must not pass for this one's.
  await Promise.all(reports.map((r) => rm(r, { force: true })));
  const started = Date.now();
  const code = await runCommand(options.command, ctx);
  const durationMs = Date.now() - started;
  if (code !== 0) {
    throw new StageError(
      `${name}: ${options.command.join(" ")} failed (${code === null ? "killed by a signal" : `exit code ${code}`}); nothing recorded`,
    );
  }
  const after = await keyOf();
  const missing = [];
  for (const [i, report] of reports.entries()) {
    if (!(await isFile(report))) missing.push(relReports[i]!);
  }
  if (after.key !== key || missing.length > 0) {
    reporter.warn(
      after.key !== key
        ? `${name}: passed, but its inputs changed while it ran; not recorded`
        : `${name}: passed, but did not write ${missing.join(", ")}; not recorded`,
    );
  } else {
    await record(dir, key, reports, {
      key,
      name,
      command: options.command,
      passedAt: new Date().toISOString(),
      durationMs,
      reports: relReports,
    });
    reporter.detail(`${name}: pass recorded (key ${short}) in ${dir}`);
  }
  reporter.result(`${name}: passed`, { name, outcome: "passed", key });
  return { outcome: "passed", key };
}

async function gitRoot(cwd: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("git", ["rev-parse", "--show-toplevel"], { cwd });
    return stdout.trim();
  } catch (error) {
    throw new UsageError(
      `cached: ${cwd} is not in a git work tree, so its inputs cannot be listed`,
      {
        cause: error,
      },
    );
  }
}

async function readRecord(dir: string, key: string): Promise<PassRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(path.join(dir, `${key}.json`), "utf8")) as PassRecord;
    if (record.key !== key) return undefined;
    for (const i of record.reports.keys()) {
      if (!(await isFile(path.join(dir, `${key}.${i}`)))) return undefined;
    }
    return record;
  } catch {
    return undefined;
  }
}

async function record(
  dir: string,
  key: string,
  reports: readonly string[],
  pass: PassRecord,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [i, report] of reports.entries()) {
    await copyFile(report, path.join(dir, `${key}.${i}`));
  }
  // The record last, and atomically: a record always has its reports.
  const tmp = path.join(dir, `${key}.json.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(pass, null, 2)}\n`);
  await rename(tmp, path.join(dir, `${key}.json`));
  await prune(dir);
}

/** Keeps the newest KEEP records and their reports. */
async function prune(dir: string): Promise<void> {
  const records = await Promise.all(
    (await readdir(dir))
      .filter((f) => /^[0-9a-f]{64}\.json$/.test(f))
      .map(async (f) => ({ key: f.slice(0, 64), mtime: (await stat(path.join(dir, f))).mtimeMs })),
  );
  const stale = new Set(
    records
      .sort((a, b) => b.mtime - a.mtime)
      .slice(KEEP)
      .map((r) => r.key),
  );
  if (stale.size === 0) return;
  await Promise.all(
    (await readdir(dir))
      .filter((f) => stale.has(f.slice(0, 64)))
      .map((f) => rm(path.join(dir, f), { force: true })),
  );
}

/** Writes a kept report back as a new file (new mtime), creating its folder. */
async function restore(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  await writeFile(to, await readFile(from));
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** The command with inherited stdin and its output on stderr (stdout is for the result). */
function runCommand(command: readonly string[], ctx: CommandContext): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd: ctx.cwd,
      env: ctx.env,
      stdio: ["inherit", process.stderr, process.stderr],
    });
    child.on("error", (error) =>
      reject(new StageError(`cannot run ${command.join(" ")}`, { cause: error })),
    );
    child.on("close", (code, signal) => resolve(signal ? null : code));
  });
}
