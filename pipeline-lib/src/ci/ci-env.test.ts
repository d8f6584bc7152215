import { expect } from "chai";
import { builderId } from "./ci-env.js";

describe("builderId: who builds and verifies, for signed evidence", () => {
  const host = { user: "alice", hostname: "laptop" };
  it("is the Jenkins job when JOB_URL is set", () => {
    expect(
      builderId({ JOB_URL: "https://jenkins.example.com/job/app/", BUILD_URL: "x/7/" }, host),
    ).to.equal("https://jenkins.example.com/job/app/");
  });
  it("is the build URL without its number when only BUILD_URL is set", () => {
    expect(builderId({ BUILD_URL: "https://jenkins.example.com/job/app/7/" }, host)).to.equal(
      "https://jenkins.example.com/job/app/",
    );
  });
  it("is the person and machine outside Jenkins", () => {
    expect(builderId({}, host)).to.equal("local:alice@laptop");
  });
});
