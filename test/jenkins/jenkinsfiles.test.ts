import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import {
  archivedArtifacts,
  jenkinsStages,
  prodAgents,
  stageDefinitions,
  type PipelineName,
} from "../../pipeline-lib/src/stages/stage-definitions.js";
import {
  commands,
  leafStages,
  ROOT,
  runHarness,
  stageCommands,
  statuses,
  type Scenario,
  type Trace,
} from "./harness.js";

const SYNTAX = "test/jenkins/fixtures/syntax.Jenkinsfile";
/**
 * The harness's agents: an `input` directive asked before the stage's agent (and,
 * without beforeInput, before its `when`), a parent stage's agent shared by its
 * nested stages, stash and unstash between workspaces, milestones, and a step
 * that needs a workspace failing where there is none.
 */
const AGENTS = `pipeline {
  agent none
  stages {
    stage('Ask first') {
      agent any
      when {
        branch 'master'
      }
      input {
        message 'Go?'
        ok 'Yes'
        submitter 'leads'
      }
      steps {
        sh 'after the answer'
      }
    }
    stage('Group') {
      agent {
        label 'linux'
      }
      when {
        branch 'master'
        beforeAgent true
      }
      stages {
        stage('Make') {
          steps {
            sh 'make'
            stash name: 'out', includes: 'out/**'
          }
        }
      }
    }
    stage('Elsewhere') {
      agent any
      when {
        branch 'master'
      }
      steps {
        unstash 'out'
        milestone 1
        milestone(ordinal: 3, label: 'three')
      }
    }
    stage('Nowhere') {
      steps {
        sh 'needs a workspace'
      }
      post {
        failure {
          echo 'no agent'
        }
      }
    }
  }
}
`;

const dev = (name: string, rest: Partial<Scenario> = {}): Scenario => ({
  name,
  jenkinsfile: "Jenkinsfile.dev",
  branch: "develop",
  ...rest,
});
const prod = (name: string, rest: Partial<Scenario> = {}): Scenario => ({
  name,
  jenkinsfile: "Jenkinsfile.prod",
  branch: "master",
  ...rest,
});

const notified = (trace: Trace) =>
  commands(trace)
    .map(
      (c) =>
        /^npx --no-install pipeline notify --status (\w+)(?: --env production)?$/.exec(
          c ?? "",
        )?.[1],
    )
    .filter(Boolean);
const titles = (pipeline: PipelineName) => stageDefinitions[pipeline].map((s) => s.title);
/** The stages that run steps in the pipeline's Jenkinsfile, in order (prod's inside parent stages). */
const plan = (pipeline: PipelineName) => jenkinsStages(pipeline);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** A scenario per stage of a pipeline that runs a command, in which that command fails (there). */
const eachStageFails = (pipeline: PipelineName) =>
  plan(pipeline)
    .filter((p) => p.runs !== "approval")
    .map((p) =>
      (pipeline === "dev" ? dev : prod)(`${pipeline}: ${p.title} fails`, {
        fail: [{ step: "sh", matches: `^${escape(p.definition.command)}$`, stage: p.title }],
      }),
    );
const commandsOf = (pipeline: PipelineName, ids?: string[]) =>
  stageDefinitions[pipeline].filter((s) => !ids || ids.includes(s.id)).map((s) => s.command);
/** The commands Jenkinsfile.prod runs on master, in order: the definitions' and the second Install. */
const prodCommands = () =>
  plan("prod")
    .filter((p) => p.runs !== "approval")
    .map((p) => p.definition.command);
const approval = stageDefinitions.prod.find((s) => s.input)!;
const SLACK = "npx --no-install pipeline notify";

describe("Jenkinsfiles in the harness (test/jenkins/Harness.groovy)", function () {
  this.timeout(60_000);
  let dir: string;
  let code: number;
  const traces = new Map<string, Trace>();
  const trace = (name: string) => {
    const found = traces.get(name);
    if (!found) throw new Error(`no trace for ${name}`);
    if (found.rejected) throw new Error(`${name} was rejected: ${found.rejected}`);
    return found;
  };

  before(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), "jenkinsfiles-"));
    const devText = await readFile(path.join(ROOT, "Jenkinsfile.dev"), "utf8");
    // The trap: `when { … } steps { … }` on one line, which Jenkins rejects.
    const oneLiner = devText.replace(
      /when \{\s*branch 'develop'\s*\}\s*steps \{/,
      "when { branch 'develop' } steps {",
    );
    expect(oneLiner).to.not.equal(devText);
    // A leak: the password interpolated by Groovy into the command line.
    const leaky = devText.replace(
      "sh 'npx --no-install pipeline push'",
      'sh "echo ${env.REGISTRY_PASSWORD} | docker login -u $REGISTRY_USERNAME --password-stdin 127.0.0.1:5000"',
    );
    expect(leaky).to.not.equal(devText);
    await writeFile(path.join(dir, "one-liner.Jenkinsfile"), oneLiner);
    await writeFile(path.join(dir, "leaky.Jenkinsfile"), leaky);
    await writeFile(path.join(dir, "agents.Jenkinsfile"), AGENTS);
    const rel = (file: string) => path.join(dir, file);

    const result = await runHarness([
      dev("develop"),
      dev("pull request", {
        branch: undefined,
        changeRequest: { id: "7", target: "develop", branch: "feature/login" },
      }),
      dev("feature branch", { branch: "feature/login" }),
      dev("integration tests fail", {
        fail: [{ step: "sh", matches: "^npx --no-install pipeline test" }],
      }),
      dev("after a failed build", { previousResult: "FAILURE" }),
      dev("after a good build", { previousResult: "SUCCESS" }),
      prod("master"),
      prod("master, REQUIRE_APPROVAL=false", { params: { REQUIRE_APPROVAL: false } }),
      prod("master, approval aborted", { input: "abort" }),
      prod("master, nobody approves in time", { input: "timeout" }),
      prod("master, a newer release approved while this one waits", { newerBuildPassed: 2 }),
      prod("master, a newer release waiting too", { newerBuildPassed: 1 }),
      prod("master, after a failed build", { previousResult: "FAILURE" }),
      prod("master, production deploy fails", {
        fail: [{ step: "sh", matches: "^npx --no-install pipeline deploy --env production" }],
      }),
      prod("prod file on another branch", { branch: "develop" }),
      ...eachStageFails("dev"),
      ...eachStageFails("prod"),
      dev("syntax: release branch", { jenkinsfile: SYNTAX, branch: "release/1.0" }),
      dev("syntax: develop, curl fails", {
        jenkinsfile: SYNTAX,
        params: { LOUD: true },
        fail: [{ step: "sh", matches: "^curl" }],
      }),
      dev("syntax: pull request", {
        jenkinsfile: SYNTAX,
        branch: undefined,
        changeRequest: { id: "3", target: "develop", branch: "fix" },
      }),
      dev("one-liner", { jenkinsfile: rel("one-liner.Jenkinsfile") }),
      dev("leaky", { jenkinsfile: rel("leaky.Jenkinsfile") }),
      dev("agents: master", { jenkinsfile: rel("agents.Jenkinsfile"), branch: "master" }),
      dev("agents: develop", { jenkinsfile: rel("agents.Jenkinsfile") }),
    ]);
    code = result.code;
    for (const t of result.traces) traces.set(t.name, t);
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("rejects `when { … } steps { … }` on one line, as Jenkins does, and only that file", () => {
    expect(code).to.equal(3);
    expect(traces.get("one-liner")?.rejected).to.match(/when \{ … \} steps \{ … \}` on one line/);
    const rejected = [...traces.values()].filter((t) => t.rejected).map((t) => t.name);
    expect(rejected).to.deep.equal(["one-liner"]);
  });

  it("both files set the options and the NodeJS tool; dev holds one agent throughout", () => {
    for (const name of ["develop", "master"]) {
      const t = trace(name);
      expect(t.tools).to.deep.equal({ nodejs: "node-24" });
      const discarder = t.options.find((o) => o.option === "buildDiscarder");
      expect(discarder).to.deep.equal({
        option: "buildDiscarder",
        strategy: { logRotator: { numToKeepStr: "30" } },
      });
    }
    const develop = trace("develop");
    expect(develop.agent).to.equal("any");
    expect(develop.options.map((o) => o.option)).to.deep.equal([
      "timestamps",
      "disableConcurrentBuilds",
      "buildDiscarder",
      "timeout",
    ]);
    expect(new Set(develop.steps.map((s) => s.workspace))).to.deep.equal(new Set(["ws-1"]));
  });

  it("develop: every dev stage runs in order, with its credentials, and deploys to test and verifies", () => {
    const t = trace("develop");
    expect(t.result).to.equal("SUCCESS");
    expect(t.stages.map((s) => s.name)).to.deep.equal(titles("dev"));
    expect(t.stages.every((s) => s.status === "SUCCESS")).to.equal(true);
    expect(stageCommands(t)).to.deep.equal(commandsOf("dev"));
    for (const definition of stageDefinitions.dev) {
      const bound = t.steps
        .filter((s) => s.stage === definition.title && s.step === "withCredentials")
        .flatMap((s) => s.bindings!.map((b) => b.id));
      expect(bound, definition.title).to.deep.equal(
        (definition.credentials ?? []).map((c) => c.id),
      );
    }
    const reports = t.steps.filter((s) => s.step === "junit").map((s) => s.testResults);
    expect(reports).to.deep.equal([
      "reports/unit-tests.xml",
      "reports/contract-tests.xml",
      "reports/verify.xml",
    ]);
    expect(t.steps.filter((s) => s.step === "recordIssues").map((s) => s.stage)).to.deep.equal([
      "Lint",
    ]);
    const archived = t.steps.filter((s) => s.step === "archiveArtifacts");
    expect(archived.map((s) => [s.phase, s.artifacts])).to.deep.equal(
      archivedArtifacts.dev.map((a) => ["post.always", a]),
    );
    expect(notified(t)).to.deep.equal(["success"]);
    const slack = t.steps.find((s) => s.step === "withCredentials" && s.phase === "post.success");
    expect(slack?.bindings).to.deep.equal([
      { type: "string", id: "slack-webhook", variables: ["SLACK_WEBHOOK_URL"] },
    ]);
  });

  for (const name of ["pull request", "feature branch"]) {
    it(`a ${name}: builds, tests and pushes, and deploys nothing`, () => {
      const t = trace(name);
      expect(t.result).to.equal("SUCCESS");
      expect(statuses(t)).to.include({
        Push: "SUCCESS",
        "Deploy to test": "skipped: when",
        "Verify test": "skipped: when",
      });
      expect(stageCommands(t)).to.deep.equal(
        commandsOf("dev", ["install", "lint", "unit-tests", "build", "integration-tests", "push"]),
      );
      expect(t.steps.some((s) => s.bindings?.some((b) => b.id.startsWith("kubeconfig")))).to.equal(
        false,
      );
    });
  }

  it("a stage that fails: the later stages are skipped, its report is still published, and failure is notified", () => {
    const t = trace("integration tests fail");
    expect(t.result).to.equal("FAILURE");
    expect(statuses(t)).to.deep.include({
      "Build image": "SUCCESS",
      "Integration tests": "FAILURE",
      Push: "skipped: earlier failure",
      "Deploy to test": "skipped: earlier failure",
      "Verify test": "skipped: earlier failure",
    });
    expect(commands(t)).to.not.include("npx --no-install pipeline push");
    expect(
      t.steps.find((s) => s.stage === "Integration tests" && s.step === "junit")?.phase,
    ).to.equal("post.always");
    expect(notified(t)).to.deep.equal(["failure"]);
  });

  for (const pipeline of ["dev", "prod"] as const) {
    it(`${pipeline}: whichever stage fails, the rest are skipped and the failure is notified with that stage (FAILED_STAGE)`, () => {
      const stages = plan(pipeline);
      for (const [i, stage] of stages.entries()) {
        if (stage.runs === "approval") continue;
        const t = trace(`${pipeline}: ${stage.title} fails`);
        expect(t.result, stage.title).to.equal("FAILURE");
        expect(
          leafStages(t).map((s) => s.status),
          stage.title,
        ).to.deep.equal(
          stages.map((_, j) =>
            j < i ? "SUCCESS" : j === i ? "FAILURE" : "skipped: earlier failure",
          ),
        );
        expect(t.env.FAILED_STAGE, stage.title).to.equal(stage.title);
        expect(notified(t), stage.title).to.deep.equal(["failure"]);
      }
    });
  }

  it("a good build after a failed one notifies `fixed` once; after a good one, `success`", () => {
    expect(notified(trace("after a failed build"))).to.deep.equal(["fixed"]);
    expect(notified(trace("after a good build"))).to.deep.equal(["success"]);
  });

  it("master: every prod stage in order, the history for the approver, the approval, then promote, deploy and verify production, notifying success", () => {
    const t = trace("master");
    expect(t.result).to.equal("SUCCESS");
    expect(leafStages(t).map((s) => [...s.parents, s.name].join(" / "))).to.deep.equal(
      plan("prod").map((p) => [...p.parents, p.title].join(" / ")),
    );
    expect(t.stages.every((s) => s.status === "SUCCESS")).to.equal(true);
    expect(leafStages(t).map((s) => s.name)).to.include.members(titles("prod"));
    expect(stageCommands(t)).to.deep.equal(prodCommands());
    const order = t.steps
      .filter((s) => s.step === "input" || (s.step === "sh" && s.phase === "steps"))
      .map((s) => (s.step === "input" ? "input" : s.stage));
    const input = order.indexOf("input");
    expect(order.slice(input - 1, input + 3)).to.deep.equal([
      prodAgents.build.approvalCommandTitle,
      "input",
      prodAgents.production.installTitle,
      "Promote",
    ]);
    expect(t.steps.find((s) => s.step === "input")?.message).to.equal(approval.input!.message);
    expect(
      t.steps
        .filter((s) => s.step === "withCredentials" && s.phase === "steps")
        .map((s) => [s.stage, s.bindings!.map((b) => b.id)]),
    ).to.deep.equal([
      ["Sign evidence", ["pipeline-signing-key"]],
      ["Deploy to test", ["kubeconfig-test"]],
      ["Verify test", ["kubeconfig-test", "pipeline-signing-key"]],
      [prodAgents.build.approvalCommandTitle, ["kubeconfig-production"]],
      ["Deploy to production", ["kubeconfig-production"]],
      ["Verify production", ["kubeconfig-production", "pipeline-signing-key"]],
    ]);
    expect(notified(t)).to.deep.equal(["success"]);
    expect(
      t.steps.filter((s) => s.step === "archiveArtifacts").map((s) => s.artifacts),
    ).to.deep.equal(archivedArtifacts.prod);
  });

  it("master after a failed build: `fixed` once, from the production agent", () => {
    const t = trace("master, after a failed build");
    expect(notified(t)).to.deep.equal(["fixed"]);
    expect(t.steps.find((s) => s.script?.startsWith(SLACK))?.stage).to.equal(
      prodAgents.production.title,
    );
  });

  it("prod: no executor is held while the approval waits: agent none at the top and on Approval, its steps run with no workspace, and every stage that runs a command runs on an agent", () => {
    const t = trace("master");
    expect(t.agent).to.equal("none");
    const gate = t.tree.find((s) => s.name === approval.title);
    expect(gate?.agent).to.equal("none");
    const waiting = t.steps.filter((s) => s.stage === approval.title);
    expect(waiting.map((s) => s.step)).to.include("input");
    expect(waiting.map((s) => s.workspace)).to.deep.equal(waiting.map(() => null));
    // Everything else with a workspace: before the approval and after it.
    for (const step of t.steps.filter((s) => s.phase === "steps" && s.stage !== approval.title)) {
      expect(step.workspace, `${step.stage} ${step.step}`).to.match(/^ws-\d+$/);
    }
    // Only the parent stages take agents, never the approval: two in all.
    expect(t.steps.filter((s) => s.step === "agent").map((s) => [s.stage, s.agent])).to.deep.equal([
      [prodAgents.build.title, "any"],
      [prodAgents.production.title, "any"],
    ]);
  });

  it("prod: the stages that need each other's files share a workspace: the build agent's up to the history; the production agent installs again and unstashes the build.json stashed after it", () => {
    const t = trace("master");
    const workspaceOf = (title: string) =>
      new Set(
        t.steps.filter((s) => s.stage === title && s.phase === "steps").map((s) => s.workspace),
      );
    const [before, after] = [
      plan("prod").filter((p) => p.parents[0] === prodAgents.build.title),
      plan("prod").filter((p) => p.parents[0] === prodAgents.production.title),
    ];
    const first = [...workspaceOf(before[0]!.title)][0]!;
    const second = [...workspaceOf(after[0]!.title)][0]!;
    expect(first).to.not.equal(second);
    for (const p of before) expect([...workspaceOf(p.title)], p.title).to.deep.equal([first]);
    for (const p of after) expect([...workspaceOf(p.title)], p.title).to.deep.equal([second]);
    const stash = t.steps.find((s) => s.step === "stash");
    expect([stash?.workspace, stash?.name, stash?.includes]).to.deep.equal([
      first,
      prodAgents.build.stash.name,
      prodAgents.build.stash.includes,
    ]);
    // build.json back before anything in production reads it, and the CLI installed again.
    const production = t.steps.filter((s) => s.workspace === second && s.phase === "steps");
    expect(production.slice(0, 2).map((s) => [s.step, s.name ?? s.script])).to.deep.equal([
      ["unstash", prodAgents.build.stash.name],
      ["sh", stageDefinitions.prod[0]!.command],
    ]);
    expect(production[0]!.from).to.equal(first);
  });

  it("prod: only the definitions' submitter (release-managers) may approve", () => {
    const t = trace("master");
    expect(approval.input!.submitter).to.equal("release-managers");
    const input = t.steps.find((s) => s.step === "input")!;
    expect([input.message, input.ok, input.submitter]).to.deep.equal([
      approval.input!.message,
      approval.input!.ok,
      approval.input!.submitter,
    ]);
  });

  it("prod: no parameter skips the approval: none is declared, and REQUIRE_APPROVAL=false still waits for it", () => {
    expect(trace("master").parameters).to.deep.equal([]);
    const t = trace("master, REQUIRE_APPROVAL=false");
    expect(t.result).to.equal("SUCCESS");
    expect(statuses(t)).to.include({ [approval.title]: "SUCCESS" });
    expect(t.steps.filter((s) => s.step === "input")).to.have.length(1);
    for (const definition of stageDefinitions.prod) {
      expect(JSON.stringify(definition.when ?? []), definition.title).to.not.include("params.");
    }
  });

  it("prod: a milestone before the approval and one after it, in that order, before anything is promoted", () => {
    const t = trace("master");
    const order = t.steps
      .filter(
        (s) => s.step === "milestone" || s.step === "input" || s.script?.includes(" promote "),
      )
      .map((s) => (s.step === "milestone" ? `milestone ${s.ordinal}` : s.step));
    expect(order).to.deep.equal(["milestone 1", "input", "milestone 2", "sh"]);
  });

  it("prod: a newer release approved while this one waits supersedes it (NOT_BUILT): nothing promoted or deployed, nothing notified; a newer one that only waits too does not", () => {
    const t = trace("master, a newer release approved while this one waits");
    expect(t.result).to.equal("NOT_BUILT");
    expect(statuses(t)).to.include({
      [approval.title]: "NOT_BUILT",
      [prodAgents.production.title]: "skipped: earlier failure",
    });
    expect(commands(t).some((c) => /promote|deploy --env production/.test(c ?? ""))).to.equal(
      false,
    );
    expect(notified(t)).to.deep.equal([]);
    const both = trace("master, a newer release waiting too");
    expect(both.result).to.equal("SUCCESS");
    expect(notified(both)).to.deep.equal(["success"]);
  });

  it("prod: the approval waits under its own timeout, in hours, and no timeout of the pipeline or of a parent stage includes the wait", () => {
    const t = trace("master");
    expect(t.options.some((o) => o.option === "timeout")).to.equal(false);
    const input = t.steps.find((s) => s.step === "input")!;
    expect(input.timeouts).to.deep.equal([
      { time: approval.input!.timeoutHours, unit: "HOURS", scope: `stage ${approval.title}` },
    ]);
    // The parts that run commands are bounded too, each on its own.
    expect(
      t.steps.filter((s) => s.step === "timeout").map((s) => [s.stage, s.time, s.unit]),
    ).to.deep.equal([
      [prodAgents.build.title, prodAgents.build.timeoutMinutes, "MINUTES"],
      [approval.title, approval.input!.timeoutHours, "HOURS"],
      [prodAgents.production.title, prodAgents.production.timeoutMinutes, "MINUTES"],
    ]);
  });

  for (const [name, how] of [
    ["master, approval aborted", /was aborted/],
    ["master, nobody approves in time", /^Timeout has been exceeded/],
  ] as const) {
    it(`prod: ${name.slice(8)}: nothing is promoted or deployed, the run is aborted, and Slack hears of it, naming the Approval stage`, () => {
      const t = trace(name);
      expect(t.result).to.equal("ABORTED");
      expect(t.steps.find((s) => s.step === "aborted")?.message).to.match(how);
      expect(statuses(t)).to.include({
        [approval.title]: "ABORTED",
        Promote: "skipped: earlier failure",
      });
      expect(commands(t).some((c) => /promote|deploy --env production/.test(c ?? ""))).to.equal(
        false,
      );
      // `aborted`, with the stage that was stopped.
      expect(notified(t)).to.deep.equal(["aborted"]);
      expect(t.env.FAILED_STAGE).to.equal(approval.title);
      // The approval held no agent: the notification takes one, with the CLI installed there.
      const post = t.steps.filter((s) => s.phase === "post.aborted" && s.stage === null);
      expect(post.map((s) => s.step)).to.include.members(["node", "checkout", "nodejs"]);
      expect(post.filter((s) => s.step === "sh").map((s) => s.script)).to.deep.equal([
        stageDefinitions.prod[0]!.command,
        `${SLACK} --status aborted --env production`,
      ]);
      expect(new Set(post.map((s) => s.workspace)).size).to.equal(1);
    });
  }

  it("prod: a failed production deploy (which rolled itself back) skips verify and notifies failure", () => {
    const t = trace("master, production deploy fails");
    expect(t.result).to.equal("FAILURE");
    expect(statuses(t)).to.include({
      "Deploy to production": "FAILURE",
      "Verify production": "skipped: earlier failure",
    });
    expect(notified(t)).to.deep.equal(["failure"]);
  });

  it("prod: on a branch other than master nothing runs, not even in post: no agent, no lock, no step, nothing notified", () => {
    const t = trace("prod file on another branch");
    expect(t.result).to.equal("SUCCESS");
    expect(t.stages.every((s) => s.status === "skipped: when")).to.equal(true);
    expect(t.steps).to.deep.equal([]);
    expect(notified(t)).to.deep.equal([]);
  });

  it("prod: a merge made while a release waits is not queued behind it (no disableConcurrentBuilds), and production takes one release at a time (a lock, waited for with no agent)", () => {
    const t = trace("master");
    expect(t.options.map((o) => o.option)).to.deep.equal(["timestamps", "buildDiscarder"]);
    const production = t.tree.find((s) => s.name === prodAgents.production.title)!;
    expect(production.options[0]).to.deep.equal({
      option: "lock",
      resource: prodAgents.production.lock,
    });
    const lock = t.steps.find((s) => s.step === "lock")!;
    expect([lock.stage, lock.workspace]).to.deep.equal([prodAgents.production.title, null]);
    const taken = t.steps.findIndex((s) => s.step === "agent" && s.stage === lock.stage);
    expect(t.steps.indexOf(lock)).to.be.lessThan(taken);
  });

  it("no credential value ever reaches an sh or echo as literal text", () => {
    const scenarios = [...traces.values()].filter(
      (t) =>
        !t.rejected &&
        !t.name.startsWith("agents:") &&
        !["leaky", "prod file on another branch"].includes(t.name),
    );
    for (const t of scenarios) {
      expect(t.secrets.length, t.name).to.be.greaterThan(0);
      for (const step of t.steps.filter((s) => ["sh", "echo", "error"].includes(s.step))) {
        const text = step.script ?? step.message ?? "";
        for (const secret of t.secrets)
          expect(text, `${t.name}: ${step.stage}`).to.not.include(secret);
      }
    }
  });

  it("the harness: when anyOf/allOf/not/changeRequest/expression, environments, withEnv, script, post unsuccessful and cleanup", () => {
    const messages = (t: Trace) =>
      t.steps
        .filter((s) => s.step === "echo" || s.step === "sh")
        .map((s) => `${s.stage ?? "-"} ${s.phase} ${s.message ?? s.script}`);
    const release = trace("syntax: release branch");
    expect(release.agent).to.deep.equal({ label: "docker" });
    expect(release.result).to.equal("SUCCESS");
    expect(messages(release)).to.deep.equal([
      "Any steps any on release/1.0",
      "All steps hello test yes",
      'All steps curl -H "Authorization: Bearer $TOKEN" https://example.invalid',
      "All steps echo $A",
      "All post.always stage always yes",
      // env.SEEN set in a script lasts; the stage's own environment does not.
      "After steps echo all null",
      "- post.always pipeline always",
      "- post.cleanup cleanup",
    ]);
    expect(release.secrets).to.deep.equal(["FAKE-SECRET-api-token-text-1"]);

    const failing = trace("syntax: develop, curl fails");
    expect(failing.result).to.equal("FAILURE");
    expect(statuses(failing)).to.deep.equal({
      Any: "skipped: when",
      All: "FAILURE",
      After: "skipped: earlier failure",
    });
    expect(messages(failing).slice(2)).to.deep.equal([
      "All post.always stage always yes",
      "All post.unsuccessful stage unsuccessful",
      "- post.always pipeline always",
      "- post.unsuccessful pipeline unsuccessful",
      "- post.cleanup cleanup",
    ]);

    const pr = trace("syntax: pull request");
    expect(statuses(pr)).to.deep.equal({ Any: "SUCCESS", All: "skipped: when", After: "SUCCESS" });
  });

  it("the harness: agents and workspaces, the input directive before the agent (and the when), nested stages on their parent's agent, stash and unstash, milestones, and a step with no agent failing", () => {
    const row = (s: Trace["steps"][number]) =>
      [
        s.stage,
        s.phase,
        s.workspace,
        s.step,
        s.script ?? s.message ?? s.name ?? s.ordinal ?? s.agent,
      ]
        .map((v) => (typeof v === "string" ? v : v == null ? "" : JSON.stringify(v)))
        .join(" | ");
    const master = trace("agents: master");
    expect(master.result).to.equal("FAILURE");
    expect(master.steps.map(row)).to.deep.equal([
      "Ask first | input |  | input | Go?",
      "Ask first | agent | ws-1 | agent | any",
      "Ask first | steps | ws-1 | sh | after the answer",
      'Group | agent | ws-2 | agent | {"label":"linux"}',
      "Make | steps | ws-2 | sh | make",
      "Make | steps | ws-2 | stash | out",
      "Elsewhere | agent | ws-3 | agent | any",
      "Elsewhere | steps | ws-3 | unstash | out",
      "Elsewhere | steps | ws-3 | milestone | 1",
      "Elsewhere | steps | ws-3 | milestone | 3",
      "Nowhere | steps |  | failed | sh: Attempted to execute a step that requires a node context while 'agent none' was specified. Be sure to specify your own 'node { ... }' blocks when using 'agent none'.",
      "Nowhere | post.failure |  | echo | no agent",
    ]);
    expect(master.steps[0]!.submitter).to.equal("leads");
    expect(master.stages.map((s) => [s.name, s.parents, s.leaf])).to.deep.equal([
      ["Ask first", [], true],
      ["Group", [], false],
      ["Make", ["Group"], true],
      ["Elsewhere", [], true],
      ["Nowhere", [], true],
    ]);
    // Without beforeInput and beforeAgent, the input is asked and an agent taken before `when` skips.
    const develop = trace("agents: develop");
    expect(statuses(develop)).to.deep.equal({
      "Ask first": "skipped: when",
      Group: "skipped: when",
      Make: "skipped: when",
      Elsewhere: "skipped: when",
      Nowhere: "FAILURE",
    });
    expect(develop.steps.slice(0, 3).map(row)).to.deep.equal([
      "Ask first | input |  | input | Go?",
      "Ask first | agent | ws-1 | agent | any",
      "Elsewhere | agent | ws-2 | agent | any",
    ]);
  });

  it("the secrets check catches a password interpolated by Groovy", () => {
    const t = trace("leaky");
    const leaked = t.steps.filter(
      (s) => s.step === "sh" && t.secrets.some((secret) => s.script!.includes(secret)),
    );
    expect(leaked.map((s) => s.stage)).to.deep.equal(["Push"]);
    // Both spellings leak: ${env.X} and a bare $X.
    expect(leaked[0]!.script).to.match(
      /^echo FAKE-SECRET-registry-password-\d+ \| docker login -u FAKE-SECRET-registry-username-\d+ /,
    );
  });
});
