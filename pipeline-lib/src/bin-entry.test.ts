import { expect } from "chai";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, "../bin/pipeline.js");

/**
 * bin/pipeline.js picks what it runs: the bundle (dist/bundle/main.js) that
 * `npm run build` makes after tsc, unless tsc built again after it. Here in a
 * copy of the package's layout, whose two entries say which one ran.
 */
describe("bin/pipeline.js: the bundle, unless tsc built after it", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pipeline-bin-"));
    await mkdir(path.join(dir, "bin"));
    await mkdir(path.join(dir, "dist", "bundle"), { recursive: true });
    await copyFile(BIN, path.join(dir, "bin", "pipeline.js"));
    await writeFile(path.join(dir, "package.json"), '{ "type": "module" }');
    for (const [file, says] of [
      ["dist/main.js", "compiled"],
      ["dist/bundle/main.js", "bundled"],
    ] as const) {
      await writeFile(
        path.join(dir, file),
        `export async function main() { console.log(${JSON.stringify(says)}); return 0; }\n`,
      );
    }
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function pipeline() {
    return exec(process.execPath, [path.join(dir, "bin", "pipeline.js"), "--version"], {
      env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: "1" },
    });
  }

  async function touch(file: string, secondsAgo: number) {
    const at = new Date(Date.now() - secondsAgo * 1000);
    await utimes(path.join(dir, file), at, at);
  }

  it("runs the bundle when it is newer than tsc's last build", async () => {
    await writeFile(path.join(dir, "dist", ".tsbuildinfo"), "{}");
    await touch("dist/.tsbuildinfo", 60);
    const { stdout, stderr } = await pipeline();
    expect(stdout.trim()).to.equal("bundled");
    expect(stderr).to.equal("");
  });

  it("runs the bundle of an installed package, which has no .tsbuildinfo", async () => {
    expect((await pipeline()).stdout.trim()).to.equal("bundled");
  });

  it("runs tsc's dist/main.js, and says why, when tsc built after the bundle", async () => {
    await writeFile(path.join(dir, "dist", ".tsbuildinfo"), "{}");
    await touch("dist/bundle/main.js", 60);
    const { stdout, stderr } = await pipeline();
    expect(stdout.trim()).to.equal("compiled");
    expect(stderr).to.match(/dist\/bundle is older than dist\/.*running dist\/main\.js/);
  });

  it("runs dist/main.js without a bundle, and says what to do with neither", async () => {
    await rm(path.join(dir, "dist", "bundle"), { recursive: true });
    expect((await pipeline()).stdout.trim()).to.equal("compiled");
    await rm(path.join(dir, "dist", "main.js"));
    const failed = await pipeline().then(
      () => expect.fail("ran without a build"),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed.code).to.equal(2);
    expect(failed.stderr).to.match(/not built.*npm run build/);
  });
});
