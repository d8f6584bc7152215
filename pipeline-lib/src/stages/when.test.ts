import { expect } from "chai";
import { stageDefinitions } from "./stage-definitions.js";
import { describeWhen, stageRuns } from "./when.js";

describe("stage when, outside Jenkins", () => {
  const runsOn = (branch: string) =>
    stageDefinitions.dev.filter((s) => stageRuns(s, { branch })).map((s) => s.id);

  it("develop runs every dev stage; a pull request and a feature branch stop after push", () => {
    expect(runsOn("develop")).to.deep.equal(stageDefinitions.dev.map((s) => s.id));
    for (const branch of ["PR-7", "feature/login"]) {
      expect(runsOn(branch), branch).to.deep.equal([
        "install",
        "lint",
        "unit-tests",
        "build",
        "integration-tests",
        "push",
      ]);
    }
  });

  it("prod runs on master only; an expression (a build parameter) holds", () => {
    expect(stageDefinitions.prod.every((s) => stageRuns(s, { branch: "master" }))).to.equal(true);
    expect(stageDefinitions.prod.some((s) => stageRuns(s, { branch: "develop" }))).to.equal(false);
  });

  const cases: [string, string, boolean][] = [
    ["release/*", "release/1.2", true],
    ["release/*", "release/1/hotfix", false],
    ["release/**", "release/1/hotfix", true],
    ["v?", "v1", true],
    ["a.b", "axb", false],
  ];
  for (const [pattern, branch, expected] of cases) {
    it(`branch '${pattern}' ${expected ? "matches" : "does not match"} ${branch}`, () => {
      expect(stageRuns({ when: [{ branch: pattern }] }, { branch })).to.equal(expected);
    });
  }

  it("change requests and words", () => {
    const notPr = { when: [{ changeRequest: false }] };
    expect(stageRuns(notPr, { branch: "PR-12" })).to.equal(false);
    expect(stageRuns(notPr, { branch: "develop" })).to.equal(true);
    expect(
      describeWhen({
        when: [{ branch: "master" }, { changeRequest: false }, { expression: "params.GO" }],
      }),
    ).to.equal("branch 'master' and not a pull request and params.GO");
  });
});
