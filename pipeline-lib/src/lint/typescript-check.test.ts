import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { checkTypeScript, eslintFindings, tscFindings } from "./typescript-check.js";

describe("lint: reading tsc and ESLint output", () => {
  it("takes tsc's file(line,col) lines, joining continuation lines", () => {
    const output = [
      "src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.",
      "src/b.ts(10,1): error TS2741: Property 'lint' is missing in type '{}'",
      "  but required in type 'Handlers'.",
      "",
    ].join("\n");
    expect(tscFindings(output, 2, "/repo")).to.deep.equal([
      {
        file: "src/a.ts",
        line: 3,
        column: 7,
        rule: "typescript/TS2322",
        severity: "error",
        message: "Type 'string' is not assignable to type 'number'.",
      },
      {
        file: "src/b.ts",
        line: 10,
        column: 1,
        rule: "typescript/TS2741",
        severity: "error",
        message: "Property 'lint' is missing in type '{}' but required in type 'Handlers'.",
      },
    ]);
  });

  it("reports a failing tsc that printed no diagnostics", () => {
    const [finding] = tscFindings("error TS5058: The specified path does not exist", 1, "/repo");
    expect(finding).to.include({ rule: "typescript/tsc", severity: "error" });
  });

  it("takes ESLint's JSON, where a warning fails as an error would", () => {
    const json = JSON.stringify([
      { filePath: "/repo/src/a.ts", messages: [] },
      {
        filePath: "/repo/src/b.ts",
        messages: [
          { ruleId: "no-unused-vars", severity: 2, message: "'x' is unused.", line: 4, column: 9 },
          { ruleId: "prefer-const", severity: 1, message: "Use const.", line: 5, column: 1 },
        ],
      },
    ]);
    expect(
      eslintFindings(json, "", "/repo").map((f) => [f.file, f.line, f.rule, f.severity]),
    ).to.deep.equal([
      ["src/b.ts", 4, "eslint/no-unused-vars", "error"],
      ["src/b.ts", 5, "eslint/prefer-const", "error"],
    ]);
    const [broken] = eslintFindings("", "Oops! Something went wrong!", "/repo");
    expect(broken).to.include({
      rule: "eslint/config",
      message: "eslint failed: Oops! Something went wrong!",
    });
  });
});

/**
 * The real tsc and ESLint (the repository's own) over a small typed project,
 * with their caches on: whatever was cached, a change is still reported.
 * Tagged @slow (each test runs tsc and ESLint for seconds): `npm test` runs
 * them, `npm run test:fast` leaves them out.
 */
describe("lint: tsc and ESLint with their caches @slow", function () {
  this.timeout(180_000);
  const repoModules = path.resolve(import.meta.dirname, "../../../node_modules");
  let dir: string;
  let cacheDir: string;
  const write = (file: string, text: string) => writeFile(path.join(dir, file), text);
  const check = () => checkTypeScript({ root: dir, env: process.env, cacheDir });
  const rules = async () => (await check()).map((f) => `${f.file}:${f.line} ${f.rule}`);
  const SYNC = "export function load(): number {\n  return 1;\n}\n";
  const USES =
    'import { load } from "./load.js";\n\nexport function main(): void {\n  load();\n}\n';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "lint-cache-"));
    cacheDir = path.join(dir, "cache");
    execFileSync("git", ["init", "-q"], { cwd: dir });
    await symlink(repoModules, path.join(dir, "node_modules"));
    await write(".gitignore", "node_modules\ncache/\n");
    await write("package.json", '{ "type": "module" }\n');
    await write(
      "tsconfig.json",
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          strict: true,
          noEmit: true,
          types: [],
        },
        include: ["src"],
      }),
    );
    await write(
      "eslint.config.js",
      [
        'import tseslint from "typescript-eslint";',
        "export default tseslint.config(",
        '  { ignores: ["eslint.config.js", "cache/"] },',
        "  ...tseslint.configs.recommendedTypeChecked,",
        "  {",
        '    languageOptions: { parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname } },',
        '    rules: { "@typescript-eslint/no-floating-promises": "error" },',
        "  },",
        ");",
        "",
      ].join("\n"),
    );
    await mkdir(path.join(dir, "src"));
    await write("src/load.ts", SYNC);
    await write("src/main.ts", USES);
    execFileSync("git", ["add", "."], { cwd: dir });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reports a lint error introduced after a cached clean run, and what a change to one file does to another, unchanged one", async () => {
    expect(await rules()).to.deep.equal([]);
    expect(await readdir(path.join(cacheDir, "eslint"))).to.have.length(1);
    await stat(path.join(cacheDir, "tsc", "tsconfig.tsbuildinfo"));
    expect(await rules()).to.deep.equal([]);
    await write("src/main.ts", USES.replace("load();", "const unused = load();"));
    expect(await rules()).to.deep.equal(["src/main.ts:4 eslint/@typescript-eslint/no-unused-vars"]);
    await write("src/main.ts", USES);
    expect(await rules()).to.deep.equal([]);
    // load() now returns a Promise: main.ts, not changed, floats it. ESLint's
    // own cache would replay main.ts's clean result (typescript-eslint#4694).
    await write(
      "src/load.ts",
      "export function load(): Promise<number> {\n  return Promise.resolve(1);\n}\n",
    );
    expect(await rules()).to.deep.equal([
      "src/main.ts:4 eslint/@typescript-eslint/no-floating-promises",
    ]);
    // A type error in main.ts from a change in load.ts, from tsc's incremental check.
    await write("src/load.ts", "export const load = 1;\n");
    expect(await rules()).to.include("src/main.ts:4 typescript/TS2349");
  });

  it("uses no cache when asked", async () => {
    await checkTypeScript({ root: dir, env: process.env, cacheDir, cache: false });
    await stat(cacheDir).then(
      () => expect.fail(`${cacheDir} was written`),
      () => undefined,
    );
  });
});
