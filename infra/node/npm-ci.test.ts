import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const SCRIPT = path.join(import.meta.dirname, "npm-ci.sh");
const STAMP = "node_modules/.cache/pipeline-lib/npm-ci.key";

/**
 * infra/node/npm-ci.sh in a project whose `npm` is a stand-in: `npm ci` logs
 * itself, empties node_modules and writes npm's marker from the lockfile (or
 * fails when FAIL_CI is set), and `node --version` can be made another one.
 */
describe("the Install stage's npm ci, skipped only when the installed tree is the lockfile's", () => {
  let dir: string;
  let bin: string;
  const write = async (file: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  };
  const install = (env: NodeJS.ProcessEnv = {}) => {
    const run = spawnSync("bash", [SCRIPT, "--no-audit"], {
      cwd: dir,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, PIPELINE_NO_CACHE: "", ...env },
      encoding: "utf8",
    });
    return { code: run.status, log: run.stderr };
  };
  const installs = async () =>
    (await readFile(path.join(dir, "npm.log"), "utf8").catch(() => ""))
      .split("\n")
      .filter((l) => l.startsWith("ci")).length;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "npm-ci-"));
    bin = path.join(dir, ".bin");
    await write(
      ".bin/npm",
      [
        "#!/bin/sh",
        'if [ "$1" = --version ]; then echo 10.9.0; exit 0; fi',
        'echo "$*" >> npm.log',
        '[ -z "$FAIL_CI" ] || exit 1',
        "rm -rf node_modules && mkdir node_modules && cp package-lock.json node_modules/.package-lock.json",
        "",
      ].join("\n"),
    );
    await write(
      ".bin/node",
      `#!/bin/sh\nif [ -n "$NODE_VERSION" ]; then echo "$NODE_VERSION"; else exec ${process.execPath} "$@"; fi\n`,
    );
    await chmod(path.join(bin, "npm"), 0o755);
    await chmod(path.join(bin, "node"), 0o755);
    await write("package-lock.json", '{"lockfileVersion":3,"packages":{"node_modules/a":{}}}\n');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("installs in a fresh workspace, then skips while lockfile, Node.js, npm and node_modules match, and says why", async () => {
    expect(install().code).to.equal(0);
    expect(await installs()).to.equal(1);
    await stat(path.join(dir, STAMP));
    const second = install();
    expect(second.code).to.equal(0);
    expect(await installs()).to.equal(1);
    expect(second.log).to.match(
      /npm ci skipped: package-lock\.json, Node\.js v[\d.]+, npm 10\.9\.0 and node_modules\/\.package-lock\.json are those of the last npm ci here \(key [0-9a-f]{12};/,
    );
  });

  it("installs when the lockfile, the installed tree, Node.js or PIPELINE_NO_CACHE says so", async () => {
    install();
    await write("package-lock.json", '{"lockfileVersion":3,"packages":{"node_modules/b":{}}}\n');
    install();
    expect(await installs()).to.equal(2);
    // An `npm install` since: npm rewrote its marker.
    await write("node_modules/.package-lock.json", '{"packages":{"node_modules/c":{}}}\n');
    install();
    expect(await installs()).to.equal(3);
    install({ NODE_VERSION: "v26.0.0" });
    expect(await installs()).to.equal(4);
    install({ PIPELINE_NO_CACHE: "1" });
    expect(await installs()).to.equal(5);
    await rm(path.join(dir, "node_modules"), { recursive: true });
    install();
    expect(await installs()).to.equal(6);
    install();
    expect(await installs()).to.equal(6);
  });

  it("keeps no key after a failed npm ci, so the next run installs again", async () => {
    const failed = install({ FAIL_CI: "1" });
    expect(failed.code).to.not.equal(0);
    await stat(path.join(dir, STAMP)).then(
      () => expect.fail("a failed install left its key"),
      () => undefined,
    );
    expect(install().code).to.equal(0);
    expect(await installs()).to.equal(2);
    expect(await readFile(path.join(dir, "npm.log"), "utf8")).to.equal(
      "ci --no-audit\nci --no-audit\n",
    );
  });
});
