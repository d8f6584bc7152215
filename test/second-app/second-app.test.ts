import * as k8s from "@kubernetes/client-node";
import { makeSigningKey } from "../../pipeline-lib/src/test-support/signing-key.js";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { STANDARD_PIPELINE } from "../../pipeline-lib/src/stages/library-vars.js";
import { stageDefinitions } from "../../pipeline-lib/src/stages/stage-definitions.js";
import { runProcess, type ProcessRun } from "../../pipeline-lib/src/test-support/run-process.js";
import type { TestRegistry } from "../support/suite-registry.js";
import type { Cluster } from "../../infra/testbed/cluster.js";
import { clusterWithRegistry } from "../support/deploy-fixture.js";
import { firstAnswer } from "../support/node-port.js";
import {
  leakedSecrets,
  runHarness,
  stageCommands,
  statuses,
  type Scenario,
  type Trace,
} from "../jenkins/harness.js";
import { NODE_PATH, packPipelineLib } from "./packed-pipeline-lib.js";

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const FIXTURE = path.join(import.meta.dirname, "fixture");
const JENKINSFILE = "test/second-app/fixture/Jenkinsfile";
/** What the fixture's Jenkinsfile skips: pipeline-lib's own gates, which a small repository lacks. */
const SKIPPED = ["lint", "unit-tests"];

const standard = stageDefinitions[STANDARD_PIPELINE];
const ran = (ids: string[]) => standard.filter((s) => ids.includes(s.id)).map((s) => s.command);
const buildIds = ["install", "build", "integration-tests", "push"];

/** The Jenkinsfile's scenarios: develop deploys and verifies; a pull request and master do not. */
const scenarios = (jenkinsfile = JENKINSFILE, libraries?: Record<string, string>): Scenario[] =>
  [
    { name: "develop", branch: "develop" },
    {
      name: "pull request",
      changeRequest: { id: "12", target: "develop", branch: "feature/page" },
    },
    { name: "master", branch: "master" },
  ].map((s) => ({ ...s, jenkinsfile, ...(libraries && { libraries }) }));

/** The assertions every run of the second app's Jenkinsfile must pass, by scenario. */
function expectSecondAppTrace(t: Trace): void {
  expect(t.rejected, t.name).to.equal(undefined);
  expect(t.result, t.name).to.equal("SUCCESS");
  expect(t.tools).to.deep.equal({ nodejs: "node-24" });
  expect(t.env.IMAGE_REPOSITORY).to.equal("127.0.0.1:5000/static-site");
  expect(t.stages.map((s) => s.name)).to.deep.equal(standard.map((s) => s.title));
  const deploys = t.name === "develop";
  for (const stage of standard) {
    const expected = SKIPPED.includes(stage.id)
      ? "skipped: when"
      : !deploys && stage.when
        ? "skipped: when"
        : "SUCCESS";
    expect(statuses(t)[stage.title], `${t.name}: ${stage.title}`).to.equal(expected);
    const bound = t.steps
      .filter((s) => s.stage === stage.title && s.step === "withCredentials")
      .flatMap((s) => s.bindings!.map((b) => b.id));
    expect(bound, `${t.name}: ${stage.title}`).to.deep.equal(
      expected === "SUCCESS" ? (stage.credentials ?? []).map((c) => c.id) : [],
    );
  }
  expect(stageCommands(t)).to.deep.equal(
    ran(deploys ? [...buildIds, "attest", "deploy-test", "verify-test"] : buildIds),
  );
  if (!deploys) {
    // Neither a cluster nor the signing key reaches a pull request's (untrusted) code.
    expect(
      t.steps.some((s) =>
        s.bindings?.some((b) => b.id.startsWith("kubeconfig") || b.id === "pipeline-signing-key"),
      ),
    ).to.equal(false);
  }
  expect(
    t.steps.filter((s) => s.step === "sh" && s.phase !== "steps").map((s) => s.script),
  ).to.deep.equal(["npx --no-install pipeline notify --status success"]);
  expect(t.secrets.length).to.be.greaterThan(0);
  expect(leakedSecrets(t)).to.deep.equal([]);
}

describe("the second app's Jenkinsfile (standardPipeline from pipeline-lib/vars) in the harness", function () {
  this.timeout(60_000);
  let traces: Trace[];

  before(async () => {
    const run = await runHarness(scenarios());
    expect(run.code, run.stderr).to.equal(0);
    traces = run.traces;
  });

  for (const name of ["develop", "pull request", "master"]) {
    it(`${name}: the definitions' stages in order, lint and unit tests skipped, ${name === "develop" ? "deploys to test and verifies" : "deploys nothing"}, no credential in any sh`, () => {
      expectSecondAppTrace(traces.find((t) => t.name === name)!);
    });
  }
});

/** The last non-empty line of a stream. */
const lastOf = (text: string) =>
  (
    text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .at(-1) ?? ""
  ).trim();

/** The last line a command printed: its result on stdout, else its last progress line (stderr). */
const lastLine = (run: ProcessRun) => lastOf(run.stdout) || lastOf(run.stderr);

describe("a second app goes through pipeline-lib from its packed tarball @slow", function () {
  this.timeout(900_000);
  const namespace = `second-app-${randomBytes(4).toString("hex")}`;
  let dir: string;
  let app: string;
  let cluster: Cluster;
  let registry: TestRegistry | undefined;
  let env: NodeJS.ProcessEnv;
  const log = (line: string) => console.log(`      [second app] ${line}`);

  /** Runs a command in the app's repository, as Jenkins would, and logs it with its last line. */
  async function inApp(command: string, args: string[]): Promise<ProcessRun> {
    const run = await runProcess(command, args, { cwd: app, env });
    log(`$ ${[command, ...args].join(" ")}`);
    log(
      `  exit ${run.code} in ${(run.ms / 1000).toFixed(1)} s; stdout: ${lastOf(run.stdout) || "(none)"}`,
    );
    log(`  last progress line (stderr): ${lastOf(run.stderr) || "(none)"}`);
    return run;
  }
  const pipeline = (...args: string[]) => inApp("npx", ["--no-install", "pipeline", ...args]);
  const ok = (run: ProcessRun) => expect(run.code, `${run.stdout}\n${run.stderr}`).to.equal(0);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "second-app-"));
    const started = performance.now();
    const pack = await packPipelineLib(dir);
    log(
      `npm pack: ${path.basename(pack.tarball)} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const prepared = await clusterWithRegistry(dir);
    const key = await makeSigningKey(path.join(dir, "keys"));
    cluster = prepared.cluster;
    registry = prepared.registry;

    // Its own repository: the fixture, committed, then pipeline-lib from the tarball.
    app = path.join(dir, "static-site");
    await cp(FIXTURE, app, { recursive: true });
    env = {
      ...process.env,
      PATH: NODE_PATH,
      GIT_AUTHOR_NAME: "Second App",
      GIT_AUTHOR_EMAIL: "second-app@example.com",
      GIT_COMMITTER_NAME: "Second App",
      GIT_COMMITTER_EMAIL: "second-app@example.com",
      NODE_IMAGE: process.env.NODE_IMAGE ?? "pipeline-local/node:24-bookworm",
      IMAGE_REPOSITORY: registry.repository("static-site"),
      REGISTRY_AUTH: "basic",
      REGISTRY_USERNAME: registry.username,
      REGISTRY_PASSWORD: registry.password,
      KUBECONFIG: prepared.kubeconfigFile,
      TEST_NAMESPACE: namespace,
      TESTCONTAINERS_RYUK_DISABLED: "true",
      ...key.env,
    };
    for (const key of ["BRANCH_NAME", "BUILD_NUMBER", "GIT_COMMIT", "JOB_NAME", "BUILD_URL"]) {
      delete env[key];
    }
    ok(await inApp("git", ["init", "-q", "-b", "develop"]));
    ok(await inApp("git", ["add", "."]));
    ok(await inApp("git", ["commit", "-q", "-m", "static-site"]));
    ok(await inApp("npm", ["install", "--no-audit", "--no-fund", pack.tarball]));
    ok(await inApp("git", ["add", "package.json", "package-lock.json"]));
    ok(await inApp("git", ["commit", "-q", "-m", "pipeline-lib from its tarball"]));
  });

  after(async () => {
    await cluster?.kubeConfig
      .makeApiClient(k8s.CoreV1Api)
      .deleteNamespace({ name: namespace })
      .catch(() => undefined);
    if (app) {
      const artifact = await readFile(path.join(app, "build.json"), "utf8").catch(() => undefined);
      if (artifact) {
        const { repository, tags } = JSON.parse(artifact) as { repository: string; tags: string[] };
        await runProcess("docker", ["image", "rm", "-f", ...tags.map((t) => `${repository}:${t}`)]);
      }
    }
    await registry?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("its pipeline-lib is the installed tarball, not the workspace", async () => {
    const resolved = await inApp("node", ["-p", "require.resolve('pipeline-lib/package.json')"]);
    ok(resolved);
    expect(resolved.stdout.trim()).to.equal(
      path.join(app, "node_modules", "pipeline-lib", "package.json"),
    );
    const bin = await inApp("npx", ["--no-install", "pipeline", "--version"]);
    ok(bin);
  });

  it("build, test, push, deploy --env test and verify --env test each exit 0, and the page is served from the cluster", async () => {
    const build = await pipeline("build");
    ok(build);
    expect(lastLine(build)).to.equal(`artifact: ${path.join(app, "build.json")}`);
    const artifact = JSON.parse(await readFile(path.join(app, "build.json"), "utf8")) as {
      app: string;
      repository: string;
      gitCommit: string;
    };
    expect(artifact.app).to.equal("static-site");
    expect(artifact.repository).to.equal(registry!.repository("static-site"));

    const test = await pipeline("test", "--junit", "reports/contract-tests.xml");
    ok(test);
    expect(lastLine(test)).to.equal(
      `JUnit report: ${path.join(app, "reports/contract-tests.xml")}`,
    );
    const junit = await readFile(path.join(app, "reports/contract-tests.xml"), "utf8");
    expect(junit).to.include("GET / serves the page");

    const push = await pipeline("push");
    ok(push);
    expect(lastLine(push)).to.equal(`recorded in ${path.join(app, "build.json")}`);
    const pushed = JSON.parse(await readFile(path.join(app, "build.json"), "utf8")) as {
      imageRef: string;
    };
    expect(pushed.imageRef).to.match(
      new RegExp(`^${registry!.repository("static-site")}@sha256:[0-9a-f]{64}$`),
    );

    const attest = await pipeline("attest");
    ok(attest);
    expect(lastLine(attest)).to.match(/^signed provenance, sbom, tests for /);

    const deploy = await pipeline("deploy", "--env", "test");
    ok(deploy);
    expect(lastLine(deploy)).to.match(
      new RegExp(
        `^deployed ${escape(pushed.imageRef)} to test \\(namespace ${namespace}\\) as revision 1 in `,
      ),
    );
    const verify = await pipeline("verify", "--env", "test");
    ok(verify);
    expect(lastLine(verify)).to.equal(`JUnit report: ${path.join(app, "reports/verify.xml")}`);
    const verified = await readFile(path.join(app, "reports/verify.xml"), "utf8");
    expect(verified).to.match(/failures="0"/);
    expect(verified).to.include("GET /version reports the commit that was built");
    for (const run of [build, test, push, attest, deploy, verify]) {
      expect(run.stderr + run.stdout).to.not.include(registry!.password);
    }

    // A visitor's request, through the Service's NodePort on 127.0.0.1.
    const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const service = await core.readNamespacedService({ name: "static-site", namespace });
    const nodePort = service.spec?.ports?.[0]?.nodePort;
    expect(nodePort, "the Service's nodePort").to.be.a("number");
    const response = await firstAnswer(`http://127.0.0.1:${nodePort}/`);
    const page = await response.text();
    log(
      `GET http://127.0.0.1:${nodePort}/ → ${response.status}: ${/<h1>.*<\/h1>/.exec(page)?.[0]}`,
    );
    expect(response.status).to.equal(200);
    expect(page).to.include("<h1>Hello from static-site</h1>");
    const version = (await (
      await fetch(`http://127.0.0.1:${nodePort}/version`, { signal: AbortSignal.timeout(10_000) })
    ).json()) as { commit: string };
    expect(version.commit).to.equal(artifact.gitCommit);
  });

  it("its Jenkinsfile passes the harness with the installed package's vars/ steps", async () => {
    const run = await runHarness(
      scenarios(path.join(app, "Jenkinsfile"), {
        "pipeline-lib": path.join(app, "node_modules", "pipeline-lib", "vars"),
      }),
    );
    expect(run.code, run.stderr).to.equal(0);
    for (const t of run.traces) expectSecondAppTrace(t);
  });
});
