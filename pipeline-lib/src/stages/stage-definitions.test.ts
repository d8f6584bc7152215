import { expect } from "chai";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { readJenkinsStages } from "./jenkinsfile.js";
import { renderPipelineDiagram } from "./render-diagram.js";
import { stageDefinitions, type PipelineName } from "./stage-definitions.js";
import { DIAGRAM_FILE } from "./write-diagram.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const JENKINSFILES: Record<PipelineName, string> = {
  dev: "Jenkinsfile.dev",
  prod: "Jenkinsfile.prod",
};

describe("stage definitions", () => {
  for (const name of Object.keys(JENKINSFILES) as PipelineName[]) {
    it(`${JENKINSFILES[name]} runs exactly the ${name} stages, one CLI call each, in order`, async () => {
      const stages = readJenkinsStages(await readFile(path.join(ROOT, JENKINSFILES[name]), "utf8"));
      expect(stages.map((s) => s.title)).to.deep.equal(stageDefinitions[name].map((s) => s.title));
      for (const [i, stage] of stages.entries()) {
        const definition = stageDefinitions[name][i]!;
        expect(stage.commands, stage.title).to.deep.equal([definition.command]);
        expect(stage.junit, stage.title).to.deep.equal(definition.junit ? [definition.junit] : []);
      }
    });
  }

  it("reads nested blocks without mistaking them for stages", () => {
    const stages = readJenkinsStages(`pipeline { stages {
      stage('A') { steps { withCredentials([x]) { sh 'one' } } post { always { junit 'a.xml' } } }
      stage('B') { steps { sh 'two' } }
    } }`);
    expect(stages).to.deep.equal([
      { title: "A", commands: ["one"], junit: ["a.xml"] },
      { title: "B", commands: ["two"], junit: [] },
    ]);
  });

  it("Diagrams/pipelines.md is generated from the definitions (npm run diagrams)", async () => {
    expect(await readFile(DIAGRAM_FILE, "utf8")).to.equal(renderPipelineDiagram());
  });
});
