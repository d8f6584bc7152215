import { expect } from "chai";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { StageError, UsageError } from "../errors.js";
import type { StageDefinition } from "../stages/stage-definitions.js";
import { testContext } from "../test-support/command-context.js";
import { run, type RunOptions } from "./run.js";
import { rejection } from "../test-support/rejection.js";

const CONFIG = "app:\n  name: app\nimage:\n  repository: 127.0.0.1:5000/app\n";

/** Stages that leave a trace in ran.txt, so the test sees what really ran and in which order. */
function stages(failAt?: string): Record<"dev" | "prod", readonly StageDefinition[]> {
  const stage = (id: string): StageDefinition => ({
    id,
    title: `Stage ${id}`,
    command: `echo ${id} >> ran.txt${id === failAt ? " && exit 3" : ""}`,
  });
  return { dev: ["a", "b", "c", "d"].map(stage), prod: [stage("p")] };
}

describe("pipeline run", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pipeline-run-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const ran = async () =>
    (await readFile(path.join(dir, "ran.txt"), "utf8").catch(() => "")).split("\n").filter(Boolean);
  const options = (overrides: Partial<RunOptions> = {}): RunOptions => ({
    pipeline: "dev",
    dryRun: false,
    ...overrides,
  });

  it("runs every stage's command in order, in the working directory", async () => {
    const ctx = testContext({ cwd: dir, configText: CONFIG, env: process.env });
    const runs = await run(options(), ctx, { stages: stages() });
    expect(await ran()).to.deep.equal(["a", "b", "c", "d"]);
    expect(runs.map((r) => r.status)).to.deep.equal(["passed", "passed", "passed", "passed"]);
    expect(ctx.reporter.lines[0]).to.equal("stage 1/4 Stage a: echo a >> ran.txt");
    expect(ctx.reporter.results[0]?.summary).to.match(/^dev pipeline passed:\n {2}Stage a/);
  });

  it("stops at the first failing stage, exits 1 and names what did not run", async () => {
    const ctx = testContext({ cwd: dir, configText: CONFIG, env: process.env });
    const error = await rejection(run(options(), ctx, { stages: stages("b") }));
    expect(error).to.be.instanceOf(StageError);
    expect((error as StageError).exitCode).to.equal(1);
    expect(error.message).to.match(/^stage "Stage b" failed \(exit code 3\) after \d+\.\ds/);
    expect(error.message).to.include("not run: Stage c, Stage d");
    expect(await ran()).to.deep.equal(["a", "b"]);
  });

  it("runs a slice with --from and --to", async () => {
    const ctx = testContext({ cwd: dir, configText: CONFIG, env: process.env });
    await run(options({ from: "b", to: "c" }), ctx, { stages: stages() });
    expect(await ran()).to.deep.equal(["b", "c"]);
  });

  it("names the stages there are when --from names none, and runs nothing", async () => {
    const ctx = testContext({ cwd: dir, configText: CONFIG, env: process.env });
    const error = await rejection(run(options({ from: "deploy" }), ctx, { stages: stages() }));
    expect(error).to.be.instanceOf(UsageError);
    expect(error.message).to.equal(
      "--from deploy: the dev pipeline has no such stage; its stages are a, b, c, d",
    );
    expect(await ran()).to.deep.equal([]);
  });

  it("with a branch, skips the stages whose when does not hold there, and lists them", async () => {
    const ctx = testContext({ cwd: dir, configText: CONFIG, env: process.env });
    const defs = stages();
    const gated = {
      ...defs,
      dev: defs.dev.map((s) => (s.id === "c" ? { ...s, when: [{ branch: "develop" }] } : s)),
    };
    const runs = await run(options({ branch: "PR-3" }), ctx, { stages: gated });
    expect(await ran()).to.deep.equal(["a", "b", "d"]);
    expect(runs.map((r) => r.status)).to.deep.equal(["passed", "passed", "skipped", "passed"]);
    expect(ctx.reporter.lines).to.include(
      "stage 3/4 Stage c (skipped on PR-3: only when branch 'develop')",
    );
    await run(options({ branch: "develop" }), ctx, { stages: gated });
    expect(await ran()).to.deep.equal(["a", "b", "d", "a", "b", "c", "d"]);
  });

  it("the real dev plan on a pull request stops after push, and signs nothing", async () => {
    const ctx = testContext({ cwd: dir, configText: CONFIG, env: process.env });
    const runs = await run(options({ dryRun: true, branch: "PR-3" }), ctx);
    expect(runs.filter((r) => r.status === "skipped").map((r) => r.id)).to.deep.equal([
      "attest",
      "deploy-test",
      "verify-test",
    ]);
  });

  it("prints the real pipeline's plan with --dry-run, running nothing", async () => {
    const ctx = testContext({ cwd: dir, configText: CONFIG, env: process.env });
    const runs = await run(options({ pipeline: "prod", dryRun: true }), ctx);
    expect(runs.map((r) => r.id)).to.deep.equal([
      "install",
      "lint",
      "unit-tests",
      "resolve",
      "integration-tests",
      "push",
      "attest",
      "deploy-test",
      "verify-test",
      "approval",
      "promote",
      "deploy-production",
      "verify-production",
    ]);
    expect(runs.every((r) => r.status === "not run")).to.equal(true);
    expect(ctx.reporter.results[0]?.summary).to.include(
      "4. Resolve verified image: npx --no-install pipeline build --reuse",
    );
    expect(await ran()).to.deep.equal([]);
  });
});
