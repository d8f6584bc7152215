import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The folder of the pipeline-lib package and its package.json, found by going
 * up from this module: the same answer from src/ (tsx), from dist/ (tsc's
 * output, one file per module) and from dist/bundle/ (the CLI's bundle, where
 * every module shares one chunk's location). Files that ship beside the code
 * (groovy/, package.json) are found from here, never by a fixed `../..`.
 */
export const { PACKAGE_ROOT, PACKAGE_VERSION } = findPackage(
  path.dirname(fileURLToPath(import.meta.url)),
);

function findPackage(from: string): { PACKAGE_ROOT: string; PACKAGE_VERSION: string } {
  for (let dir = from; ; dir = path.dirname(dir)) {
    let text: string | undefined;
    try {
      text = readFileSync(path.join(dir, "package.json"), "utf8");
    } catch {
      // no package.json here: one folder up
    }
    if (text !== undefined) {
      const manifest = JSON.parse(text) as { name?: string; version?: string };
      if (manifest.name === "pipeline-lib" && manifest.version) {
        return { PACKAGE_ROOT: dir, PACKAGE_VERSION: manifest.version };
      }
    }
    if (path.dirname(dir) === dir) {
      throw new Error(
        `pipeline-lib's package.json was not found above ${from}; reinstall pipeline-lib`,
      );
    }
  }
}
