import { expect } from "chai";
import { lintJenkinsfile, pipelineCommands } from "./jenkinsfile-rules.js";

describe("lint: Jenkinsfile rules without Groovy", () => {
  const table: [string, string[]][] = [
    ["sh 'npx pipeline build --reuse'", ["build"]],
    ["sh 'npm ci && npx pipeline --json -c ci.yaml deploy --env test'", ["deploy"]],
    ['sh "pipeline verify --env test"', ["verify"]],
    ["sh(script: 'pipeline push', returnStatus: true)", ["push"]],
    ["// then run: npx pipeline run dev", ["run"]],
    ["pipeline {", []],
    ["// in the order of pipeline-lib/src/stages, the prod pipeline deploys", []],
    ["echo 'the pipeline finished'", []],
    ["sh 'echo the pipeline finished && pipeline history --env test'", ["history"]],
  ];
  for (const [line, commands] of table) {
    it(`${line} → ${commands.join(", ") || "no command"}`, () => {
      expect(pipelineCommands(line)).to.deep.equal(commands);
    });
  }

  it("finds directive blocks chained on one line, not inside strings or comments", () => {
    const text = [
      "stage('A') {",
      "  when { branch 'main' } steps { sh 'make' }",
      "  post { always { echo '} steps {' } }",
      "  // when { x } steps { y }",
      "}",
    ].join("\n");
    expect(lintJenkinsfile(text, "J", ["build"]).map((f) => [f.line, f.rule])).to.deep.equal([
      [2, "jenkinsfile/one-block-per-line"],
    ]);
  });
});
