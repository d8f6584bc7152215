import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { checkGroovySyntax } from "../../pipeline-lib/src/lint/groovy-syntax.js";
import { stageDefinitions } from "../../pipeline-lib/src/stages/stage-definitions.js";
import { runPipelineBin } from "../../pipeline-lib/src/test-support/run-process.js";
import {
  leakedSecrets,
  ROOT,
  runHarness,
  stageCommands,
  statuses,
  type Scenario,
  type Trace,
} from "./harness.js";

const LIBRARY = "test/jenkins/fixtures/library.Jenkinsfile";
const approval = stageDefinitions.prod.find((s) => s.id === "approval")!;
const VARS = [
  "pipeline-lib/vars/pipelineStage.groovy",
  "pipeline-lib/vars/standardPipeline.groovy",
];
/** The line of pipelineStage.groovy that the broken copy gets a stray bracket on. */
const BROKEN_LINE = "  List bindings = []";
const breakStep = (text: string) => text.replace(BROKEN_LINE, `${BROKEN_LINE}]`);

/** Small Jenkinsfiles that call standardPipeline with one set of parameters each. */
const CALLS: Record<string, string> = {
  "no app": "standardPipeline(skip: ['lint'])",
  "unknown skip": "standardPipeline(app: 'a', skip: ['deploy'])",
  "own ids":
    "standardPipeline(app: 'a', imageRepository: 'registry.example.com/team/a', skip: ['lint', 'unit-tests'], " +
    "credentials: [registry: 'r2', 'kubeconfig-test': 'k2', 'slack-webhook': 's2'])",
  "no such library": "",
  "a global registry": "standardPipeline(app: 'static-site', skip: ['lint', 'unit-tests'])",
  "canary in test":
    "standardPipeline(app: 'a', skip: ['lint', 'unit-tests'], strategy: [test: 'canary'])",
  "strategy for production": "standardPipeline(app: 'a', strategy: [production: 'canary'])",
  "strategy what": "standardPipeline(app: 'a', strategy: [test: 'blue-green'])",
  "strategy not a map": "standardPipeline(app: 'a', strategy: 'canary')",
};

/** What a Jenkins admin sets for every job (Manage Jenkins → System → Global properties). */
const GLOBAL_ENV: Record<string, Record<string, string>> = {
  "a global registry": {
    IMAGE_REGISTRY: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team",
    // Left over from a single-app setup: it must not send this app's images there.
    IMAGE_REPOSITORY: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/visit-counter",
  },
};

/**
 * A prod Jenkinsfile on the library's steps that holds no agent while the approval
 * waits: the approval's command on the agent, the wait in an `agent none` stage.
 */
const SPLIT_APPROVAL = (approve: string) => `@Library('pipeline-lib') _
pipeline {
  agent none
  stages {
    stage('Build') {
      agent any
      stages {
        stage('Production history') {
          steps {
            pipelineStage('approval', pipeline: 'prod', only: 'command')
          }
        }
      }
    }
    stage('Approval') {
      agent none
      steps {
        ${approve}
      }
    }
  }
}
`;
const SPLIT: Record<string, string> = {
  "split approval": SPLIT_APPROVAL(
    "pipelineStage('approval', pipeline: 'prod', only: 'approval', submitter: 'acme-release')",
  ),
  "only what": SPLIT_APPROVAL("pipelineStage('approval', pipeline: 'prod', only: 'input')"),
  "only without an approval": SPLIT_APPROVAL(
    "pipelineStage('push', pipeline: 'prod', only: 'approval')",
  ),
};

/** A Jenkinsfile of one stage per call of pipelineStage, named by the call's stage. */
const STAGES = (calls: Record<string, string>) => `@Library('pipeline-lib') _
pipeline {
  agent any
  stages {
${Object.entries(calls)
  .map(
    ([title, call]) => `    stage('${title}') {
      steps {
        ${call}
      }
    }`,
  )
  .join("\n")}
  }
}
`;
const STRATEGY: Record<string, string> = {
  "deploy strategies": STAGES({
    "Deploy to production": "pipelineStage('deploy', env: 'production', strategy: 'canary')",
    "Deploy to test": "pipelineStage('deploy', env: 'test', pipeline: 'prod', strategy: 'rolling')",
    "Deploy again": "pipelineStage('deploy-production')",
  }),
  "pipelineStage strategy what": STAGES({
    Deploy: "pipelineStage('deploy', env: 'production', strategy: 'blue-green')",
  }),
  "pipelineStage strategy on verify": STAGES({
    Verify: "pipelineStage('verify', env: 'production', strategy: 'canary')",
  }),
};

describe("the shared library's steps (pipeline-lib/vars) in the harness", function () {
  this.timeout(60_000);
  let dir: string;
  let broken: string;
  let brokenLine: number;
  let code: number;
  const traces = new Map<string, Trace>();
  const trace = (name: string) => traces.get(name)!;
  const bindings = (t: Trace) =>
    t.steps
      .filter((s) => s.step === "withCredentials")
      .map((s) => [s.stage, s.bindings!.map((b) => b.id)]);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "jenkins-library-"));
    // A copy of the library whose pipelineStage does not compile: a stray bracket.
    broken = path.join(dir, "broken-vars");
    await cp(path.join(ROOT, "pipeline-lib/vars"), broken, { recursive: true });
    const text = await readFile(path.join(broken, "pipelineStage.groovy"), "utf8");
    expect(text).to.include(BROKEN_LINE);
    await writeFile(path.join(broken, "pipelineStage.groovy"), breakStep(text));
    brokenLine = text.split("\n").indexOf(BROKEN_LINE) + 1;

    const scenarios: Scenario[] = [
      { name: "develop", jenkinsfile: LIBRARY, branch: "develop" },
      { name: "master", jenkinsfile: LIBRARY, branch: "master" },
      { name: "unknown stage", jenkinsfile: LIBRARY, branch: "develop", params: { STAGE: "nope" } },
      {
        name: "push fails",
        jenkinsfile: LIBRARY,
        branch: "develop",
        fail: [{ step: "sh", matches: "pipeline push$" }],
      },
      {
        name: "broken",
        jenkinsfile: LIBRARY,
        branch: "develop",
        libraries: { "pipeline-lib": broken },
      },
    ];
    for (const [name, text] of Object.entries(SPLIT)) {
      const file = path.join(dir, `${name.replaceAll(" ", "-")}.Jenkinsfile`);
      await writeFile(file, text);
      scenarios.push({ name, jenkinsfile: file, branch: "master" });
    }
    for (const [name, text] of Object.entries(STRATEGY)) {
      const file = path.join(dir, `${name.replaceAll(" ", "-")}.Jenkinsfile`);
      await writeFile(file, text);
      scenarios.push({ name, jenkinsfile: file, branch: "master" });
    }
    scenarios.push({
      name: "split approval, superseded",
      jenkinsfile: path.join(dir, "split-approval.Jenkinsfile"),
      branch: "master",
      newerBuildPassed: 2,
    });
    for (const [name, call] of Object.entries(CALLS)) {
      const file = path.join(dir, `${name.replaceAll(" ", "-")}.Jenkinsfile`);
      const library = name === "no such library" ? "elsewhere" : "pipeline-lib";
      await writeFile(file, `@Library('${library}') _\n${call}\n`);
      scenarios.push({
        name,
        jenkinsfile: file,
        branch: "develop",
        ...(GLOBAL_ENV[name] ? { env: GLOBAL_ENV[name] } : {}),
      });
    }
    const run = await runHarness(scenarios);
    code = run.code;
    for (const t of run.traces) traces.set(t.name, t);
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("pipelineStage runs a stage's one CLI call, with its credentials by id (overridable) and its reports", () => {
    const t = trace("develop");
    expect(t.result).to.equal("SUCCESS");
    expect(statuses(t)).to.deep.equal({
      Build: "SUCCESS",
      Push: "SUCCESS",
      Deploy: "SUCCESS",
      Approve: "skipped: when",
    });
    expect(stageCommands(t)).to.deep.equal([
      "npx --no-install pipeline build",
      "npx --no-install pipeline push",
      "npx --no-install pipeline deploy --env test",
    ]);
    expect(bindings(t)).to.deep.equal([
      ["Push", ["acme-registry"]],
      ["Deploy", ["registry", "registry-pull", "acme-kube"]],
    ]);
    expect(leakedSecrets(t)).to.deep.equal([]);
  });

  it("pipelineStage('approval', pipeline: 'prod'): the history, then a milestone, the input (only release-managers may answer) under its own timeout in hours, and a milestone", () => {
    const t = trace("master");
    expect(t.result).to.equal("SUCCESS");
    const order = t.steps
      .filter((s) => s.stage === "Approve")
      .map((s) => (s.step === "sh" ? s.script : s.step));
    expect(order).to.deep.equal([
      // The CLI checks that it is this library's version (PIPELINE_LIBRARY_VERSION).
      "withEnv",
      "withCredentials",
      "npx --no-install pipeline history --env production",
      "milestone",
      "timeout",
      "input",
      "milestone",
    ]);
    const input = t.steps.find((s) => s.step === "input")!;
    expect([input.message, input.ok, input.submitter]).to.deep.equal([
      approval.input!.message,
      approval.input!.ok,
      "release-managers",
    ]);
    expect(input.timeouts).to.deep.equal([
      { time: approval.input!.timeoutHours, unit: "HOURS", scope: "step" },
    ]);
    expect(t.steps.filter((s) => s.step === "milestone").map((s) => s.ordinal)).to.deep.equal([
      1, 2,
    ]);
  });

  it("pipelineStage's only: 'command' runs the approval's command on the agent, and only: 'approval' waits in an `agent none` stage with no workspace, for the submitter it is given", () => {
    const t = trace("split approval");
    expect(t.result, JSON.stringify(t.steps.filter((s) => s.step === "failed"))).to.equal(
      "SUCCESS",
    );
    expect(stageCommands(t)).to.deep.equal([approval.command]);
    const history = t.steps.filter((s) => s.stage === "Production history");
    expect(history.map((s) => s.step)).to.deep.equal(["withEnv", "withCredentials", "sh"]);
    expect(history[0]!.variables).to.deep.equal(["PIPELINE_LIBRARY_VERSION"]);
    const waiting = t.steps.filter((s) => s.stage === "Approval");
    expect(waiting.map((s) => [s.step, s.workspace])).to.deep.equal([
      ["milestone", null],
      ["timeout", null],
      ["input", null],
      ["milestone", null],
    ]);
    expect(waiting.find((s) => s.step === "input")?.submitter).to.equal("acme-release");
    expect(leakedSecrets(t)).to.deep.equal([]);
  });

  it("pipelineStage's approval: a newer build approved while this one waits supersedes it (NOT_BUILT)", () => {
    const t = trace("split approval, superseded");
    expect(t.result).to.equal("NOT_BUILT");
    expect(statuses(t)).to.include({ Approval: "NOT_BUILT" });
  });

  it("pipelineStage refuses an unknown only, and only on a stage without an approval", () => {
    expect(trace("only what").steps.find((s) => s.step === "error")?.message).to.equal(
      "pipelineStage: only is 'command' or 'approval', not 'input'",
    );
    expect(
      trace("only without an approval").steps.find((s) => s.step === "error")?.message,
    ).to.equal("pipelineStage: stage 'push' has no approval, so no only: 'approval'");
  });

  it("pipelineStage's strategy appends --strategy to a deploy stage's command, after its own options", () => {
    const t = trace("deploy strategies");
    expect(t.result).to.equal("SUCCESS");
    expect(stageCommands(t)).to.deep.equal([
      "npx --no-install pipeline deploy --env production --strategy canary",
      "npx --no-install pipeline deploy --env test --unless-reused --strategy rolling",
      // Without one, the config's strategy: the command as the definitions give it.
      "npx --no-install pipeline deploy --env production",
    ]);
    expect(bindings(t)).to.deep.equal([
      ["Deploy to production", ["kubeconfig-production"]],
      ["Deploy to test", ["kubeconfig-test"]],
      ["Deploy again", ["kubeconfig-production"]],
    ]);
  });

  it("pipelineStage refuses a strategy other than rolling or canary, and one on a stage that does not deploy, before its command", () => {
    for (const [name, message] of [
      [
        "pipelineStage strategy what",
        "pipelineStage: strategy is 'rolling' or 'canary', not 'blue-green'",
      ],
      [
        "pipelineStage strategy on verify",
        "pipelineStage: stage 'verify-production' does not deploy, so no strategy: 'canary' (only deploy-test and deploy-production take one)",
      ],
    ] as const) {
      const t = trace(name);
      expect(t.result, name).to.equal("FAILURE");
      expect(t.steps.find((s) => s.step === "error")?.message, name).to.equal(message);
      expect(stageCommands(t), name).to.deep.equal([]);
    }
  });

  it("an unknown stage fails the stage, naming the stages there are", () => {
    const t = trace("unknown stage");
    expect(t.result).to.equal("FAILURE");
    expect(statuses(t)).to.include({ Build: "FAILURE", Push: "skipped: earlier failure" });
    const error = t.steps.find((s) => s.step === "error");
    expect(error?.message).to.match(
      /^pipelineStage: no stage 'nope' in dev or prod; the stages: install, lint, /,
    );
  });

  it("a failing CLI call fails the stage and the build", () => {
    const t = trace("push fails");
    expect(t.result).to.equal("FAILURE");
    expect(statuses(t)).to.include({ Push: "FAILURE", Deploy: "skipped: earlier failure" });
  });

  it("standardPipeline refuses a missing app and an unknown skip before any stage runs", () => {
    expect(trace("no app").result).to.equal("FAILURE");
    expect(trace("no app").stages).to.deep.equal([]);
    expect(trace("no app").steps.find((s) => s.step === "error")?.message).to.match(
      /^standardPipeline: app is required/,
    );
    expect(trace("unknown skip").steps.find((s) => s.step === "error")?.message).to.equal(
      "standardPipeline: skip names no stage 'deploy'; the stages: install, lint, unit-tests, build, integration-tests, push, attest, deploy-test, verify-test",
    );
  });

  it("standardPipeline's strategy goes to the deploy stage of its environment, and to no other stage", () => {
    const t = trace("canary in test");
    expect(t.result).to.equal("SUCCESS");
    expect(stageCommands(t)).to.deep.equal(
      stageDefinitions.dev
        .filter((s) => !["lint", "unit-tests"].includes(s.id))
        .map((s) =>
          s.id === "deploy-test"
            ? "npx --no-install pipeline deploy --env test --strategy canary"
            : s.command,
        ),
    );
    // Without one, every command is the definitions' (the config's strategy).
    expect(stageCommands(trace("own ids")).filter((c) => c?.includes("--strategy"))).to.deep.equal(
      [],
    );
  });

  it("standardPipeline refuses a strategy for an environment it does not deploy to, an unknown strategy and one that is not a map, before any stage runs", () => {
    for (const [name, message] of [
      [
        "strategy for production",
        "standardPipeline: strategy names no environment 'production' that it deploys to; it deploys to: test",
      ],
      [
        "strategy what",
        "standardPipeline: strategy for 'test' is 'rolling' or 'canary', not 'blue-green'",
      ],
      [
        "strategy not a map",
        "standardPipeline: strategy is a map from environment to 'rolling' or 'canary', such as [test: 'canary'], not 'canary'",
      ],
    ] as const) {
      const t = trace(name);
      expect(t.result, name).to.equal("FAILURE");
      expect(t.stages, name).to.deep.equal([]);
      expect(t.steps.find((s) => s.step === "error")?.message, name).to.equal(message);
    }
  });

  it("standardPipeline: each app gets its own repository under a global IMAGE_REGISTRY, whatever IMAGE_REPOSITORY says", () => {
    const t = trace("a global registry");
    expect(t.result).to.equal("SUCCESS");
    expect(t.env.IMAGE_REPOSITORY).to.equal(
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/static-site",
    );
  });

  it("standardPipeline takes your credential ids and image repository", () => {
    const t = trace("own ids");
    expect(t.result).to.equal("SUCCESS");
    expect(t.env.IMAGE_REPOSITORY).to.equal("registry.example.com/team/a");
    expect(bindings(t)).to.deep.equal([
      ["Push", ["r2"]],
      ["Sign evidence", ["r2", "pipeline-signing-key"]],
      ["Deploy to test", ["r2", "registry-pull", "k2"]],
      ["Verify test", ["k2", "r2", "pipeline-signing-key"]],
      [null, ["s2"]],
    ]);
    expect(leakedSecrets(t)).to.deep.equal([]);
  });

  it("a vars/ step that does not compile rejects the Jenkinsfile, naming the step's file and line", () => {
    expect(code).to.equal(3);
    expect(trace("broken").rejected).to.match(
      new RegExp(
        `^${broken}/pipelineStage\\.groovy:${brokenLine}:\\d+: expecting '\\}', found '\\]'$`,
      ),
    );
    expect(trace("no such library").rejected).to.equal(
      "no library 'elsewhere' is configured (a scenario's libraries names its vars folder)",
    );
    const rejected = [...traces.values()].filter((t) => t.rejected).map((t) => t.name);
    expect(rejected.sort()).to.deep.equal(["broken", "no such library"]);
  });
});

describe("the Groovy 2.4 syntax check compiles the vars/ steps", function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "vars-syntax-"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("every step in pipeline-lib/vars compiles", async () => {
    expect(await checkGroovySyntax(VARS, { cwd: ROOT, env: process.env })).to.deep.equal([]);
  });

  it("a broken step fails `pipeline lint` (check-syntax.groovy) with its line", async () => {
    const text = await readFile(path.join(ROOT, "pipeline-lib/vars/pipelineStage.groovy"), "utf8");
    const line = text.split("\n").indexOf(BROKEN_LINE) + 1;
    await writeFile(path.join(dir, "pipelineStage.groovy"), breakStep(text));
    const findings = await checkGroovySyntax(["pipelineStage.groovy"], {
      cwd: dir,
      env: process.env,
    });
    expect(findings.map((f) => [f.file, f.line, f.rule])).to.deep.equal([
      ["pipelineStage.groovy", line, "jenkinsfile/groovy-syntax"],
    ]);

    const lint = await runPipelineBin(["lint", "pipelineStage.groovy"], { cwd: dir });
    expect(lint.code, lint.stderr).to.equal(1);
    expect(lint.stdout + lint.stderr).to.match(
      new RegExp(
        `pipelineStage\\.groovy:${line}:\\d+ jenkinsfile/groovy-syntax Groovy 2\\.4\\.21: expecting '\\}', found '\\]'`,
      ),
    );
  });
});
