import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runProcess, type ProcessRun } from "../pipeline-lib/src/test-support/run-process.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const TESTBED = path.join(ROOT, "infra/testbed/testbed.sh");

/**
 * The README's first command, as a new user runs it: `npm start` in a fresh
 * clone (no node_modules, no build), with the machine's own `node` first on
 * PATH (older than 24 here) and no kube context, so it takes the testbed.
 */
describe("npm start, the README's quick start, from a fresh clone @slow", function () {
  this.timeout(30 * 60_000);
  const namespace = `quickstart-${randomBytes(3).toString("hex")}`;
  let work: string;
  let run: ProcessRun;
  let head: string;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "pipeline-quickstart-"));
    const clone = path.join(work, "clone");
    execFileSync("git", ["clone", "--quiet", ROOT, clone]);
    head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: clone }).toString().trim();
    // What the user's shell has: no Node 24 put first by npm test, no KUBECONFIG.
    const pathWithoutNode24 = (process.env.PATH ?? "")
      .split(":")
      .filter((dir) => !dir.includes("pipeline-lib/node/v"))
      .join(":");
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithoutNode24 };
    delete env.KUBECONFIG;
    delete env.PIPELINE_KUBE_CONTEXT;
    delete env.NODE_IMAGE;
    delete env.REDIS_IMAGE;
    env.TEST_NAMESPACE = namespace;
    run = await runProcess("npm", ["start"], { cwd: clone, env });
  });

  after(async () => {
    execFileSync(
      "bash",
      [TESTBED, "kubectl", "delete", "namespace", namespace, "--wait=false", "--ignore-not-found"],
      {
        stdio: "ignore",
      },
    );
    await rm(work, { recursive: true, force: true });
  });

  it("brings Node.js 24, installs, and runs every dev stage from Lint to Verify", () => {
    const output = run.stdout + run.stderr;
    // A failing stage's own report first (mocha's list of failures, when the unit tests fail), then the end.
    const failures = output.indexOf(" failing\n");
    const report = failures >= 0 ? `${output.slice(failures, failures + 6000)}\n…\n` : "";
    expect(run.code, report + output.slice(-4000)).to.equal(0);
    expect(output).to.match(/\[start \+\d+s\] node v24\./);
    expect(run.stderr).to.match(/\[npm \+\d+s\] installing the npm dependencies \(npm ci\)/);
    const summary = run.stdout.slice(run.stdout.indexOf("dev pipeline passed:"));
    for (const stage of ["Lint", "Unit tests", "Build image", "Integration tests", "Push"]) {
      expect(summary).to.match(new RegExp(`\\n  ${stage} +\\d+\\.\\ds\\n`));
    }
    expect(summary).to.match(/\n {2}Deploy to test +\d+\.\ds\n {2}Verify test +\d+\.\ds\n/);
  });

  it("ends with the counter's URL, which serves the page of the commit it deployed", async () => {
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.at(-1)).to.equal("It stays up until you run: npm stop");
    const url = /open (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(lines.at(-2) ?? "")?.[1];
    expect(url, lines.slice(-3).join("\n")).to.be.a("string");
    const page = await fetch(url!);
    expect(page.status).to.equal(200);
    const html = await page.text();
    expect(html).to.include("visits");
    expect(html).to.include(head.slice(0, 7));
  });
});
