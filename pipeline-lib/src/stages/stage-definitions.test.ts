import { expect } from "chai";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { readArchivedArtifacts, readJenkinsStages } from "./jenkinsfile.js";
import { renderPipelineDiagram } from "./render-diagram.js";
import { archivedArtifacts, stageDefinitions, type PipelineName } from "./stage-definitions.js";
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
    it(`${JENKINSFILES[name]} runs exactly the ${name} stages, one CLI call each, in order, with their when, credentials, approval and reports`, async () => {
      const text = await readFile(path.join(ROOT, JENKINSFILES[name]), "utf8");
      const stages = readJenkinsStages(text);
      expect(stages.map((s) => s.title)).to.deep.equal(stageDefinitions[name].map((s) => s.title));
      for (const [i, stage] of stages.entries()) {
        const definition = stageDefinitions[name][i]!;
        expect(stage.commands, stage.title).to.deep.equal([definition.command]);
        expect(stage.junit, stage.title).to.deep.equal(definition.junit ? [definition.junit] : []);
        expect(stage.checkstyle, stage.title).to.deep.equal(
          definition.checkstyle ? [definition.checkstyle] : [],
        );
        expect(stage.when, stage.title).to.deep.equal(definition.when ?? []);
        expect(stage.credentials, stage.title).to.deep.equal(definition.credentials ?? []);
        expect(stage.input, stage.title).to.deep.equal(definition.input ? [definition.input] : []);
      }
      expect(readArchivedArtifacts(text)).to.deep.equal(archivedArtifacts[name]);
    });
  }

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

  it("Diagrams/pipelines.md is generated from the definitions (npm run diagrams)", async () => {
    expect(await readFile(DIAGRAM_FILE, "utf8")).to.equal(renderPipelineDiagram());
  });
});
