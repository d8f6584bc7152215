import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { expect } from "chai";

/**
 * The layers of docs/ARCHITECTURE.md, as import rules between the folders of
 * src/: a command goes down through planning to the adapters and never back.
 * Tests and test support may import anything.
 */
const MAY_IMPORT: Record<string, string[]> = {
  // The image reference grammar: a leaf.
  reference: [],
  // Adapters: each talks to one system, and none to another adapter.
  engine: ["reference", "errors", "output"],
  registry: ["reference", "config", "errors", "output"],
  kube: ["reference", "errors", "output"],
  // Naming the image: tree hash and tags.
  image: ["reference", "errors"],
};

describe("layers of pipeline-lib/src", () => {
  for (const [folder, allowed] of Object.entries(MAY_IMPORT)) {
    const what = allowed.length > 0 ? `only ${allowed.join(", ")}` : "nothing outside itself";
    it(`${folder}/ imports ${what}`, async () => {
      const dir = path.join(import.meta.dirname, folder);
      const wrong: string[] = [];
      for (const file of await readdir(dir)) {
        if (!file.endsWith(".ts") || file.endsWith(".test.ts")) continue;
        const source = await readFile(path.join(dir, file), "utf8");
        for (const match of source.matchAll(/\bfrom\s+"(\.[^"]+)"|\bimport\("(\.[^"]+)"\)/g)) {
          const specifier = match[1] ?? match[2]!;
          const target = path.relative(
            path.dirname(import.meta.filename),
            path.resolve(dir, specifier),
          );
          const top = target.split(path.sep)[0]!.replace(/\.js$/, "");
          if (top !== folder && !allowed.includes(top))
            wrong.push(`${folder}/${file} → ${specifier}`);
        }
      }
      expect(wrong).to.deep.equal([]);
    });
  }
});
