import { expect } from "chai";
import { isValidTag } from "../reference/image-reference.js";
import { branchBuildTag, contentTag, imageTags } from "./tags.js";

const HASH = "0123456789abcdef0123456789abcdef01234567";

describe("image tags", () => {
  it("tags by content first, then by branch and build", () => {
    expect(imageTags({ treeHash: HASH, branch: "develop", buildNumber: "42" })).to.deep.equal([
      `tree-${HASH}`,
      "develop-42",
    ]);
    expect(imageTags({ treeHash: HASH })).to.deep.equal([contentTag(HASH)]);
  });

  const branches: [string | undefined, string | undefined, string | undefined][] = [
    ["develop", "7", "develop-7"],
    ["feature/login-page", "12", "feature-login-page-12"],
    ["PR-31", "3", "PR-31-3"],
    [".hidden", "1", "hidden-1"],
    ["develop", undefined, undefined],
    [undefined, "5", undefined],
    ["a".repeat(200), "99", `${"a".repeat(125)}-99`],
  ];
  for (const [branch, build, expected] of branches) {
    it(`branch ${String(branch).slice(0, 20)} build ${String(build)} → ${String(expected).slice(0, 24)}`, () => {
      const tag = branchBuildTag(branch, build);
      expect(tag).to.equal(expected);
      if (tag) expect(isValidTag(tag)).to.equal(true);
    });
  }
});
