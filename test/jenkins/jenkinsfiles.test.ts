import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import {
  archivedArtifacts,
  stageDefinitions,
  type PipelineName,
} from "../../pipeline-lib/src/stages/stage-definitions.js";
import {
  commands,
  ROOT,
  runHarness,
  stageCommands,
  statuses,
  type Scenario,
  type Trace,
} from "./harness.js";

const SYNTAX = "test/jenkins/fixtures/syntax.Jenkinsfile";

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
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** A scenario per stage of a pipeline, in which that stage's command fails. */
const eachStageFails = (pipeline: PipelineName) =>
  stageDefinitions[pipeline].map((definition) =>
    (pipeline === "dev" ? dev : prod)(`${pipeline}: ${definition.title} fails`, {
      fail: [{ step: "sh", matches: `^${escape(definition.command)}$` }],
    }),
  );
const commandsOf = (pipeline: PipelineName, ids?: string[]) =>
  stageDefinitions[pipeline].filter((s) => !ids || ids.includes(s.id)).map((s) => s.command);

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
      prod("master, approval off", { params: { REQUIRE_APPROVAL: false } }),
      prod("master, approval aborted", { input: "abort" }),
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

  it("both files set the options, the NodeJS tool and an agent", () => {
    for (const name of ["develop", "master"]) {
      const t = trace(name);
      expect(t.agent).to.equal("any");
      expect(t.tools).to.deep.equal({ nodejs: "node-24" });
      expect(t.options.map((o) => o.option)).to.deep.equal([
        "timestamps",
        "disableConcurrentBuilds",
        "buildDiscarder",
        "timeout",
      ]);
      expect(t.options[2]).to.deep.equal({
        option: "buildDiscarder",
        strategy: { logRotator: { numToKeepStr: "30" } },
      });
    }
    expect(trace("master").parameters).to.deep.include({
      type: "booleanParam",
      name: "REQUIRE_APPROVAL",
      defaultValue: true,
      description: "Wait for a person to approve the production deploy",
    });
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
      for (const [i, definition] of stageDefinitions[pipeline].entries()) {
        const t = trace(`${pipeline}: ${definition.title} fails`);
        expect(t.result, definition.title).to.equal("FAILURE");
        expect(
          t.stages.map((s) => s.status),
          definition.title,
        ).to.deep.equal(
          titles(pipeline).map((_, j) =>
            j < i ? "SUCCESS" : j === i ? "FAILURE" : "skipped: earlier failure",
          ),
        );
        expect(t.env.FAILED_STAGE, definition.title).to.equal(definition.title);
        expect(notified(t), definition.title).to.deep.equal(["failure"]);
      }
    });
  }

  it("a good build after a failed one notifies `fixed` once; after a good one, `success`", () => {
    expect(notified(trace("after a failed build"))).to.deep.equal(["fixed"]);
    expect(notified(trace("after a good build"))).to.deep.equal(["success"]);
  });

  it("master with approval: the history, then the input, then promote, deploy and verify production", () => {
    const t = trace("master");
    expect(t.result).to.equal("SUCCESS");
    expect(t.stages.map((s) => s.name)).to.deep.equal(titles("prod"));
    expect(t.stages.every((s) => s.status === "SUCCESS")).to.equal(true);
    expect(stageCommands(t)).to.deep.equal(commandsOf("prod"));
    const order = t.steps
      .filter((s) => s.step === "input" || (s.step === "sh" && s.phase === "steps"))
      .map((s) => (s.step === "input" ? "input" : s.stage));
    const input = order.indexOf("input");
    expect(order.slice(input - 1, input + 2)).to.deep.equal(["Approval", "input", "Promote"]);
    expect(t.steps.find((s) => s.step === "input")?.message).to.equal(
      "Deploy this image to production?",
    );
    expect(
      t.steps
        .filter((s) => s.step === "withCredentials" && s.phase === "steps")
        .map((s) => [s.stage, s.bindings!.map((b) => b.id)]),
    ).to.deep.equal([
      ["Sign evidence", ["pipeline-signing-key"]],
      ["Deploy to test", ["kubeconfig-test"]],
      ["Verify test", ["kubeconfig-test", "pipeline-signing-key"]],
      ["Approval", ["kubeconfig-production"]],
      ["Deploy to production", ["kubeconfig-production"]],
      ["Verify production", ["kubeconfig-production", "pipeline-signing-key"]],
    ]);
    expect(notified(t)).to.deep.equal(["success"]);
  });

  it("master with REQUIRE_APPROVAL off: no input, straight to promote", () => {
    const t = trace("master, approval off");
    expect(t.result).to.equal("SUCCESS");
    expect(statuses(t)).to.include({ Approval: "skipped: when", Promote: "SUCCESS" });
    expect(t.steps.some((s) => s.step === "input")).to.equal(false);
    expect(stageCommands(t)).to.deep.equal(
      commandsOf("prod").filter((c) => c !== "npx --no-install pipeline history --env production"),
    );
  });

  it("an aborted approval ships nothing", () => {
    const t = trace("master, approval aborted");
    expect(t.result).to.equal("ABORTED");
    expect(statuses(t)).to.include({ Approval: "ABORTED", Promote: "skipped: earlier failure" });
    expect(commands(t).some((c) => /promote|deploy --env production/.test(c ?? ""))).to.equal(
      false,
    );
    expect(notified(t)).to.deep.equal([]);
  });

  it("a failed production deploy (which rolled itself back) skips verify and notifies failure", () => {
    const t = trace("master, production deploy fails");
    expect(t.result).to.equal("FAILURE");
    expect(statuses(t)).to.include({
      "Deploy to production": "FAILURE",
      "Verify production": "skipped: earlier failure",
    });
    expect(notified(t)).to.deep.equal(["failure"]);
  });

  it("Jenkinsfile.prod on a branch other than master runs no stage", () => {
    const t = trace("prod file on another branch");
    expect(t.stages.every((s) => s.status === "skipped: when")).to.equal(true);
    expect(stageCommands(t)).to.deep.equal([]);
  });

  it("no credential value ever reaches an sh or echo as literal text", () => {
    const scenarios = [...traces.values()].filter((t) => !t.rejected && t.name !== "leaky");
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
