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
  // Planning and the vocabulary every layer shares.
  config: ["errors"],
  artifact: ["errors"],
  ci: ["output"],
  output: [],
  lifecycle: ["errors"],
  contract: ["errors", "output"],
  // package-root.ts (a leaf, like errors.ts): where the files that ship beside
  // the code are, from src/, dist/ and the bundle alike.
  stages: ["package-root"],
  // Content keys of the workspace and where caches live: node's own modules only.
  cache: [],
  notify: ["artifact", "ci", "errors", "image", "output"],
  // Signed evidence: statements and the policy are plain data; it reads and
  // writes through the registry adapter, never through a command.
  evidence: ["config", "errors", "registry"],
  // Deploying: rendering (planning) over the kube adapter; a canary's optional
  // load runs the app's own contract checks.
  deploy: ["config", "contract", "errors", "kube", "output", "registry", "reference", "ci"],
  lint: ["cache", "config", "deploy", "errors", "kube", "output", "package-root", "stages"],
  // Commands may use everything below them, but not the CLI that dispatches them.
  commands: [
    "artifact",
    "cache",
    "ci",
    "config",
    "contract",
    "deploy",
    "engine",
    "errors",
    "evidence",
    "image",
    "kube",
    "lifecycle",
    "lint",
    "notify",
    "output",
    "reference",
    "registry",
    "stages",
  ],
  // Helpers for tests: anything but the CLI entry.
  "test-support": ["artifact", "commands", "config", "errors", "output", "registry", "reference"],
};

describe("layers of pipeline-lib/src", () => {
  it("has a rule for every folder", async () => {
    const folders = (await readdir(import.meta.dirname, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(folders).to.deep.equal(Object.keys(MAY_IMPORT).sort());
  });

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
