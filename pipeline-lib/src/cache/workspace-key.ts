import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

/** npm's record of the installed tree, rewritten by every install. */
export const INSTALLED_MARKER = "node_modules/.package-lock.json";

/** Where the caches of a workspace live: inside node_modules, so a real `npm ci` empties them. */
export function workspaceCacheDir(root: string, ...parts: string[]): string {
  return path.join(root, "node_modules", ".cache", "pipeline-lib", ...parts);
}

/** Whether PIPELINE_NO_CACHE asks for every check to run (any value but empty, 0 or false). */
export function cacheDisabled(env: NodeJS.ProcessEnv): boolean {
  const value = env.PIPELINE_NO_CACHE?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

export interface WorkspaceKey {
  /** sha256 (hex) over everything below. */
  key: string;
  /** How many files of the workspace it covers. */
  files: number;
}

export interface WorkspaceKeyOptions {
  /** Only the workspace files whose path (relative, `/`-separated) passes this; all by default. */
  include?: (file: string) => boolean;
  /** More inputs: the command, its name… (each one line). */
  extra?: readonly string[];
}

/**
 * A content key of a git workspace: the path and content (sha256) of every
 * file git tracks or would track (untracked files not ignored: a new test
 * file counts), as they are on disk now, deleted ones included; npm's record
 * of the installed dependencies (node_modules/.package-lock.json); the Node.js
 * version, platform and architecture; and `extra`. Any change to any of them
 * changes the key. Ignored files (dist/, reports/, node_modules/ itself) are
 * not in it: they are built or installed from what is.
 */
export async function workspaceKey(
  root: string,
  { include = () => true, extra = [] }: WorkspaceKeyOptions = {},
): Promise<WorkspaceKey> {
  const files = (await listWorkspaceFiles(root)).filter(include);
  const hash = createHash("sha256");
  hash.update(
    ["pipeline-lib workspace key v1", process.version, process.platform, process.arch, ...extra]
      .map((line) => `${line}\n`)
      .join(""),
  );
  hash.update(`${INSTALLED_MARKER} ${await fileDigest(path.join(root, INSTALLED_MARKER))}\n`);
  const digests = await Promise.all(files.map((f) => fileDigest(path.join(root, f))));
  files.forEach((file, i) => hash.update(`${file}\0${digests[i]}\n`));
  return { key: hash.digest("hex"), files: files.length };
}

/** Tracked files and untracked ones that are not ignored, relative to root, sorted. */
export async function listWorkspaceFiles(root: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: root, maxBuffer: 64 * 1024 * 1024 },
  );
  return [...new Set(stdout.split("\0").filter(Boolean))].sort();
}

/** The sha256 of a file's content, a symlink's target, or `absent`. */
async function fileDigest(file: string): Promise<string> {
  let stat;
  try {
    stat = await lstat(file);
  } catch {
    return "absent";
  }
  if (stat.isSymbolicLink()) return `symlink ${await readlink(file)}`;
  if (!stat.isFile()) return stat.isDirectory() ? "directory" : "other";
  return createHash("sha256")
    .update(await readFile(file))
    .digest("hex");
}
