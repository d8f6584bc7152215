import { expect } from "chai";
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  readArchivedArtifacts,
  readJenkinsStages,
  readJenkinsStageTree,
  readPipelineAgent,
} from "./jenkinsfile.js";
import { renderPipelineDiagram } from "./render-diagram.js";
import {
  archivedArtifacts,
  jenkinsStages,
  prodAgents,
  stageDefinitions,
  type PipelineName,
} from "./stage-definitions.js";
import { DIAGRAM_FILE } from "./write-diagram.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const JENKINSFILES: Record<PipelineName, string> = {
  dev: "Jenkinsfile.dev",
  prod: "Jenkinsfile.prod",
};

describe("stage definitions", () => {
  it("run only what Install installed: every npx is --no-install, never a fetch of some package by that name", async () => {
    const texts = [
      ...[...stageDefinitions.dev, ...stageDefinitions.prod].map((s) => s.command),
      ...(
        await Promise.all(
          Object.values(JENKINSFILES).map((file) => readFile(path.join(ROOT, file), "utf8")),
        )
      ).map((text) => text.replaceAll(/^\s*\/\/.*$/gm, "")),
    ];
    for (const text of texts) {
      for (const call of text.matchAll(/\bnpx\s+(\S+)/g)) {
        expect(call[1], text.slice(0, 120)).to.equal("--no-install");
      }
    }
  });

  for (const name of Object.keys(JENKINSFILES) as PipelineName[]) {
    it(`${JENKINSFILES[name]} runs exactly the ${name} stages, one CLI call each, in order, with their when, credentials, approval and reports, inside the parent stages the definitions give`, async () => {
      const text = await readFile(path.join(ROOT, JENKINSFILES[name]), "utf8");
      const stages = readJenkinsStages(text);
      const plan = jenkinsStages(name);
      expect(stages.map((s) => [...s.parents, s.title].join(" / "))).to.deep.equal(
        plan.map((p) => [...p.parents, p.title].join(" / ")),
      );
      for (const [i, stage] of stages.entries()) {
        const { definition, runs } = plan[i]!;
        const command = runs !== "approval";
        const approval = runs !== "command" ? definition.input : undefined;
        expect(stage.commands, stage.title).to.deep.equal(command ? [definition.command] : []);
        expect(stage.junit, stage.title).to.deep.equal(
          command && definition.junit ? [definition.junit] : [],
        );
        expect(stage.checkstyle, stage.title).to.deep.equal(
          command && definition.checkstyle ? [definition.checkstyle] : [],
        );
        expect(stage.when, stage.title).to.deep.equal(definition.when ?? []);
        expect(stage.credentials, stage.title).to.deep.equal(
          command ? (definition.credentials ?? []) : [],
        );
        expect(stage.input, stage.title).to.deep.equal(
          approval
            ? [{ message: approval.message, ok: approval.ok, submitter: approval.submitter }]
            : [],
        );
      }
      expect(readArchivedArtifacts(text)).to.deep.equal(archivedArtifacts[name]);
    });
  }

  it("Jenkinsfile.dev holds one agent for everything (it waits for nobody); Jenkinsfile.prod none at the top, one per parent stage, none for the approval, which has its own timeout and milestones around its input", async () => {
    const dev = await readFile(path.join(ROOT, JENKINSFILES.dev), "utf8");
    expect(readPipelineAgent(dev)).to.equal("any");
    expect(readJenkinsStages(dev).every((s) => s.parents.length === 0 && !s.agent)).to.equal(true);

    const text = await readFile(path.join(ROOT, JENKINSFILES.prod), "utf8");
    expect(readPipelineAgent(text)).to.equal("none");
    const { build, production } = prodAgents;
    const approval = stageDefinitions.prod.find((s) => s.input)!;
    const tree = readJenkinsStageTree(text);
    expect(
      tree.map((s) => ({ title: s.title, agent: s.agent, timeout: s.timeout, nested: !!s.stages })),
    ).to.deep.equal([
      {
        title: build.title,
        agent: "any",
        timeout: { time: build.timeoutMinutes, unit: "MINUTES" },
        nested: true,
      },
      {
        title: approval.title,
        agent: "none",
        timeout: { time: approval.input!.timeoutHours, unit: "HOURS" },
        nested: false,
      },
      {
        title: production.title,
        agent: "any",
        timeout: { time: production.timeoutMinutes, unit: "MINUTES" },
        nested: true,
      },
    ]);
    expect(tree[0]!.stash).to.deep.equal([build.stash.name]);
    expect(tree[1]!.milestones).to.deep.equal([1, 2]);
    const install = readJenkinsStages(text).find((s) => s.title === production.installTitle)!;
    expect(install.unstash).to.deep.equal([build.stash.name]);
    // The nested stages take no agent of their own: they share their parent's.
    expect(readJenkinsStages(text).filter((s) => s.parents.length > 0 && s.agent)).to.deep.equal(
      [],
    );
  });

  it("reads nested blocks without mistaking them for stages", () => {
    const stages = readJenkinsStages(`pipeline { stages {
      stage('A') { steps { withCredentials([x]) { sh 'one' } } post { always { junit 'a.xml' } } }
      stage('B') { steps { sh 'two' } }
    } }`);
    expect(stages.map((s) => [s.title, s.commands, s.junit])).to.deep.equal([
      ["A", ["one"], ["a.xml"]],
      ["B", ["two"], []],
    ]);
  });

  it("reads when conditions, credential bindings, input and triple-quoted sh", () => {
    const [stage] = readJenkinsStages(`stage('A') {
      when {
        branch 'develop'
        not { changeRequest() }
        changeRequest()
        expression { params.GO }
      }
      steps {
        withCredentials([usernamePassword(credentialsId: 'r', usernameVariable: 'U', passwordVariable: 'P'), string(credentialsId: 's', variable: 'S'), file(credentialsId: 'k', variable: 'K')]) {
          sh '''echo "$(node -p 'x')"'''
        }
        input message: 'Go?', ok: 'Yes'
      }
      post {
        always {
          recordIssues(tools: [checkStyle(pattern: 'lint.xml')])
        }
      }
    }`);
    expect(stage).to.deep.equal({
      title: "A",
      parents: [],
      agent: undefined,
      milestones: [],
      timeout: undefined,
      stash: [],
      unstash: [],
      commands: [`echo "$(node -p 'x')"`],
      junit: [],
      checkstyle: ["lint.xml"],
      when: [
        { branch: "develop" },
        { changeRequest: false },
        { changeRequest: true },
        { expression: "params.GO" },
      ],
      credentials: [
        { type: "usernamePassword", id: "r", usernameVariable: "U", passwordVariable: "P" },
        { type: "string", id: "s", variable: "S" },
        { type: "file", id: "k", variable: "K" },
      ],
      input: [{ message: "Go?", ok: "Yes" }],
    });
  });

  it("reads nested stages with their parents, agents, timeouts, input (directive or step, with its submitter), milestones and stashes", () => {
    const text = `pipeline {
      agent none
      stages {
        // A comment: agent any { stage('Not one') }
        stage('Group') {
          agent { label 'docker' }
          options {
            timeout(time: 30, unit: 'MINUTES')
          }
          stages {
            stage('A') { steps { sh 'a' } }
            stage('B') { steps { sh 'b' } post { success { stash name: 'files', includes: 'x' } } }
          }
          post { always { sh 'group post' } }
        }
        stage('Wait') {
          agent none
          input {
            message 'Go?'
            ok 'Yes'
            submitter 'leads'
          }
          steps {
            milestone(ordinal: 3, label: 'x')
            input message: 'Really?', ok: 'Yes', submitter: 'admins'
            milestone 4
          }
        }
        stage('After') { agent any; steps { unstash 'files'; sh 'c' } }
      }
    }`;
    expect(readPipelineAgent(text)).to.equal("none");
    const tree = readJenkinsStageTree(text);
    expect(tree.map((s) => [s.title, s.agent, s.stages?.map((n) => n.title)])).to.deep.equal([
      ["Group", "docker", ["A", "B"]],
      ["Wait", "none", undefined],
      ["After", "any", undefined],
    ]);
    expect(tree[0]!.timeout).to.deep.equal({ time: 30, unit: "MINUTES" });
    expect(tree[0]!.commands).to.deep.equal(["group post"]);
    const stages = readJenkinsStages(text);
    expect(stages.map((s) => [s.parents, s.title, s.commands, s.stash, s.unstash])).to.deep.equal([
      [["Group"], "A", ["a"], [], []],
      [["Group"], "B", ["b"], ["files"], []],
      [[], "Wait", [], [], []],
      [[], "After", ["c"], [], ["files"]],
    ]);
    expect(stages[2]!.input).to.deep.equal([
      { message: "Go?", ok: "Yes", submitter: "leads" },
      { message: "Really?", ok: "Yes", submitter: "admins" },
    ]);
    expect(stages[2]!.milestones).to.deep.equal([3, 4]);
  });

  it("Diagrams/pipelines.md is generated from the definitions (npm run diagrams)", async () => {
    expect(await readFile(DIAGRAM_FILE, "utf8")).to.equal(renderPipelineDiagram());
  });
});
