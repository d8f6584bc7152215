import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { git } from "./git.js";

/**
 * The git tree hash of the build inputs: the files of the build context as they
 * are in the work tree now (uncommitted edits included), less what git ignores.
 * Equal inputs give an equal hash on any machine and any commit, so a merge
 * commit whose inputs match the verified develop tip finds that image again.
 *
 * It is computed in a throwaway index, so the user's index is never touched.
 */
export async function treeHashOf(contextDir: string, files: readonly string[]): Promise<string> {
  const top = await git(["rev-parse", "--show-toplevel"], { cwd: contextDir }).catch(
    (error: unknown) => {
      throw new ConfigError(
        `build context ${contextDir} is not inside a git work tree; images are tagged by the git tree hash of their inputs`,
        { cause: error },
      );
    },
  );
  const prefix = path.relative(top, contextDir);
  const fromTop = files.map((f) =>
    prefix ? path.posix.join(prefix.split(path.sep).join("/"), f) : f,
  );

  const tmp = await mkdtemp(path.join(os.tmpdir(), "pipeline-tree-"));
  const env = { ...process.env, GIT_INDEX_FILE: path.join(tmp, "index") };
  try {
    // Files git ignores (an extra CA bundle, local artifacts) are environment, not input.
    const tracked = await git(
      [
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
        "--",
        ...(prefix ? [prefix] : []),
      ],
      {
        cwd: top,
      },
    );
    const candidates = new Set(tracked.split("\0").filter(Boolean));
    const inputs = fromTop.filter((f) => candidates.has(f));
    if (inputs.length === 0) {
      throw new ConfigError(`build context ${contextDir} has no files that git can see`);
    }
    await git(["add", "--pathspec-from-file=-", "--pathspec-file-nul"], {
      cwd: top,
      env,
      input: inputs.join("\0"),
    });
    return await git(["write-tree"], { cwd: top, env });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
