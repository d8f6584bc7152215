import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { StageError } from "../errors.js";
import { testContext } from "../test-support/command-context.js";
import { rejection } from "../test-support/rejection.js";
import { cached, type CachedOptions } from "./cached.js";

const CONFIG = "app:\n  name: app\nimage:\n  repository: 127.0.0.1:5000/app\n";
const PASSING = "export const sum = (a, b) => a + b;\n";

/**
 * A real test suite in a git workspace (Node's own test runner, JUnit report),
 * whose test file counts each run in runs.log (ignored), so the tests see
 * whether the command ran or was reused.
 */
describe("pipeline cached: a check skipped only when its inputs are unchanged", function () {
  this.timeout(60_000);
  let dir: string;
  const write = (file: string, text: string) => writeFile(path.join(dir, file), text);
  const runs = async () =>
    (await readFile(path.join(dir, "runs.log"), "utf8").catch(() => "")).split("\n").length - 1;
  const options = (overrides: Partial<CachedOptions> = {}): CachedOptions => ({
    name: "unit-tests",
    command: [
      process.execPath,
      "--test",
      "--test-reporter=junit",
      "--test-reporter-destination=junit.xml",
      "sum.test.mjs",
    ],
    reports: ["junit.xml"],
    cache: true,
    ...overrides,
  });
  const context = (env: NodeJS.ProcessEnv = {}) =>
    testContext({ cwd: dir, configText: CONFIG, env: { PATH: process.env.PATH, ...env } });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pipeline-cached-"));
    execFileSync("git", ["init", "-q"], { cwd: dir });
    await write(".gitignore", "node_modules/\njunit.xml\nruns.log\n");
    await write("sum.mjs", PASSING);
    await write(
      "sum.test.mjs",
      [
        'import { appendFileSync } from "node:fs";',
        'import { test } from "node:test";',
        'import assert from "node:assert";',
        'import { sum } from "./sum.mjs";',
        'appendFileSync("runs.log", "ran\\n");',
        'test("adds", () => assert.strictEqual(sum(2, 3), 5));',
        "",
      ].join("\n"),
    );
    execFileSync("git", ["add", "."], { cwd: dir });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs on a miss, then reuses the pass and its JUnit report while nothing changed, and says so", async () => {
    const first = await cached(options(), context());
    expect(first.outcome).to.equal("passed");
    expect(await runs()).to.equal(1);
    const report = await readFile(path.join(dir, "junit.xml"), "utf8");
    expect(report).to.include("<testsuites");

    await rm(path.join(dir, "junit.xml"));
    const ctx = context();
    const second = await cached(options(), ctx);
    expect(second).to.include({ outcome: "reused", key: first.key });
    expect(await runs()).to.equal(1);
    expect(await readFile(path.join(dir, "junit.xml"), "utf8")).to.equal(report);
    expect(ctx.reporter.lines.join("\n")).to.match(
      /unit-tests: inputs unchanged since a passing run at \d{4}-\d\d-\d\dT[\d:.]+Z \(key [0-9a-f]{12}, 3 files\), report reused: junit\.xml/,
    );
  });

  it("runs again and fails when a source the tests import changes after a cached pass", async () => {
    const pass = await cached(options(), context());
    await write("sum.mjs", "export const sum = (a, b) => a - b;\n");
    const error = await rejection(cached(options(), context()));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.match(/^unit-tests: .* failed \(exit code 1\); nothing recorded$/);
    expect(await runs()).to.equal(2);
    // The failure was not recorded: it fails again, running again.
    await rejection(cached(options(), context()));
    expect(await runs()).to.equal(3);
    // The old sources again are the inputs that passed.
    await write("sum.mjs", PASSING);
    expect(await cached(options(), context())).to.include({ outcome: "reused", key: pass.key });
    expect(await runs()).to.equal(3);
  });

  it("runs a new test file that git does not track yet", async () => {
    await cached(options(), context());
    await write("more.test.mjs", 'import { test } from "node:test";\ntest("x", () => {});\n');
    expect((await cached(options(), context())).outcome).to.equal("passed");
    expect(await runs()).to.equal(2);
  });

  it("runs another command, and never reuses with --no-cache or PIPELINE_NO_CACHE=1", async () => {
    await cached(options(), context());
    const other = options();
    other.command = [...other.command.slice(0, -1), "--test-only", "sum.test.mjs"];
    expect((await cached(other, context())).outcome).to.equal("passed");
    expect((await cached(options({ cache: false }), context())).outcome).to.equal("passed");
    const ctx = context({ PIPELINE_NO_CACHE: "1" });
    expect((await cached(options(), ctx)).outcome).to.equal("passed");
    expect(ctx.reporter.lines.join("\n")).to.include("cache not used (PIPELINE_NO_CACHE)");
    expect(await runs()).to.equal(4);
  });

  it("does not record a pass that wrote no report, and clears a stale report before running", async () => {
    await cached(options(), context());
    const noReport = options({ command: [process.execPath, "-e", "0"] });
    const ctx = context();
    expect((await cached(noReport, ctx)).outcome).to.equal("passed");
    expect(ctx.reporter.lines.join("\n")).to.include(
      "warning: unit-tests: passed, but did not write junit.xml; not recorded",
    );
    await stat(path.join(dir, "junit.xml")).then(
      () => expect.fail("the earlier run's report is still there"),
      () => undefined,
    );
    expect((await cached(noReport, context())).outcome).to.equal("passed");
  });
});
