import { execFile } from "node:child_process";
import { cp, stat, symlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
/** On the PATH of every child, so that `npm` and `#!/usr/bin/env node` run this Node.js. */
export const NODE_PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`;

/** What pipeline-lib's package.json ships (its `files`), and what prepack builds from (scripts/: the bundle). */
const SOURCES = [
  "package.json",
  "LICENSE",
  "tsconfig.json",
  "bin",
  "scripts",
  "src",
  "groovy",
  "vars",
];

/**
 * `npm pack` of pipeline-lib into `dir`, from a copy, so that prepack's clean
 * build never touches the work tree's dist/ while someone uses it. Resolves to
 * the tarball and the files in it.
 */
export async function packPipelineLib(dir: string): Promise<{ tarball: string; files: string[] }> {
  const copy = path.join(dir, "repo");
  for (const entry of SOURCES) {
    await cp(path.join(ROOT, "pipeline-lib", entry), path.join(copy, "pipeline-lib", entry), {
      recursive: true,
    });
  }
  await cp(path.join(ROOT, "tsconfig.json"), path.join(copy, "tsconfig.json"));
  await symlink(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"), "dir");
  // What npm could not hoist (a version another workspace pins differently) stays beside it.
  const own = path.join(ROOT, "pipeline-lib", "node_modules");
  if (await stat(own).catch(() => undefined)) {
    await symlink(own, path.join(copy, "pipeline-lib", "node_modules"), "dir");
  }
  const { stdout } = await exec("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: path.join(copy, "pipeline-lib"),
    env: { ...process.env, PATH: NODE_PATH },
    maxBuffer: 16 * 1024 * 1024,
  });
  const [pack] = JSON.parse(stdout.slice(stdout.indexOf("["))) as {
    filename: string;
    files: { path: string }[];
  }[];
  return { tarball: path.join(dir, pack!.filename), files: pack!.files.map((f) => f.path) };
}
