import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, unlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { cacheDisabled, workspaceKey } from "./workspace-key.js";

describe("cache: the content key of a workspace", () => {
  let dir: string;
  const write = async (file: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  };
  const key = async () => (await workspaceKey(dir)).key;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "workspace-key-"));
    execFileSync("git", ["init", "-q"], { cwd: dir });
    await write(".gitignore", "dist/\nnode_modules/\n");
    await write("src/sum.ts", "export const sum = (a: number, b: number) => a + b;\n");
    await write("package-lock.json", '{"lockfileVersion":3}\n');
    execFileSync("git", ["add", "."], { cwd: dir });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is the same for an unchanged tree, and names how many files it covers", async () => {
    const first = await workspaceKey(dir);
    expect(first.key).to.match(/^[0-9a-f]{64}$/);
    expect(first.files).to.equal(3);
    expect((await workspaceKey(dir)).key).to.equal(first.key);
  });

  it("changes when a source changes, even one not yet staged, and when it changes back it is the old key", async () => {
    const before = await key();
    await write("src/sum.ts", "export const sum = (a: number, b: number) => a - b;\n");
    const changed = await key();
    expect(changed).to.not.equal(before);
    await write("src/sum.ts", "export const sum = (a: number, b: number) => a + b;\n");
    expect(await key()).to.equal(before);
  });

  it("changes when an untracked file appears, when a tracked one is deleted, and with the lockfile", async () => {
    const keys = [await key()];
    await write("src/new.test.ts", "it('fails', () => { throw new Error('x'); });\n");
    keys.push(await key());
    await unlink(path.join(dir, "src/new.test.ts"));
    await unlink(path.join(dir, "src/sum.ts"));
    keys.push(await key());
    await write("src/sum.ts", "export const sum = (a: number, b: number) => a + b;\n");
    await write("package-lock.json", '{"lockfileVersion":3,"packages":{}}\n');
    keys.push(await key());
    expect(new Set(keys).size).to.equal(4);
  });

  it("changes with the installed dependencies (npm's node_modules/.package-lock.json) and with extra inputs", async () => {
    const before = await key();
    await write("node_modules/.package-lock.json", '{"packages":{"node_modules/a":{}}}\n');
    const installed = await key();
    expect(installed).to.not.equal(before);
    const other = (await workspaceKey(dir, { extra: ["command npm test"] })).key;
    expect(other).to.not.equal(installed);
  });

  it("leaves out ignored files (built or installed from the rest), and files the filter leaves out", async () => {
    const before = await key();
    await write("dist/sum.js", "exports.sum = 1;\n");
    await write("node_modules/a/index.js", "module.exports = 1;\n");
    expect(await key()).to.equal(before);
    const ts = (f: string) => f.endsWith(".ts");
    const tsBefore = (await workspaceKey(dir, { include: ts })).key;
    await write("README.md", "# changed\n");
    expect((await workspaceKey(dir, { include: ts })).key).to.equal(tsBefore);
    expect(await key()).to.not.equal(before);
  });

  it("PIPELINE_NO_CACHE turns caches off for any value but empty, 0 and false", () => {
    expect(cacheDisabled({})).to.equal(false);
    expect(cacheDisabled({ PIPELINE_NO_CACHE: "" })).to.equal(false);
    expect(cacheDisabled({ PIPELINE_NO_CACHE: "0" })).to.equal(false);
    expect(cacheDisabled({ PIPELINE_NO_CACHE: "false" })).to.equal(false);
    expect(cacheDisabled({ PIPELINE_NO_CACHE: "1" })).to.equal(true);
    expect(cacheDisabled({ PIPELINE_NO_CACHE: "yes" })).to.equal(true);
  });
});
