import { expect } from "chai";
import { GitFixture } from "../test-support/git-fixture.js";
import { listContextFiles } from "../engine/build-context.js";
import { treeHashOf } from "./tree-hash.js";

const files = {
  ".dockerignore": "*\n!app/\n!Dockerfile\napp/**/*.test.js\n",
  ".gitignore": "extra-ca.pem\n",
  Dockerfile: "FROM scratch\nCOPY app /app\n",
  "app/index.js": "console.log(1)\n",
  "app/index.test.js": "test\n",
  "docs/README.md": "docs\n",
  "node_modules/x/index.js": "ignored\n",
};

describe("build inputs and their tree hash", () => {
  it("lists what .dockerignore admits, plus the Dockerfile and .dockerignore", async () => {
    await using repo = await GitFixture.create(files);
    expect(await listContextFiles(repo.dir, "Dockerfile")).to.deep.equal([
      ".dockerignore",
      "Dockerfile",
      "app/index.js",
    ]);
  });

  it("is stable across commits that leave the inputs alone, and follows uncommitted edits", async () => {
    await using repo = await GitFixture.create(files);
    const hash = async () => treeHashOf(repo.dir, await listContextFiles(repo.dir, "Dockerfile"));
    const first = await hash();
    expect(first).to.match(/^[0-9a-f]{40}$/);

    await repo.write({ "docs/README.md": "changed docs\n", "app/index.test.js": "changed test\n" });
    repo.commit("outside the inputs");
    expect(await hash()).to.equal(first);

    await repo.write({ "extra-ca.pem": "-----BEGIN CERTIFICATE-----\n" });
    expect(await hash(), "a git-ignored file is environment, not input").to.equal(first);

    await repo.write({ "app/index.js": "console.log(2)\n" });
    const edited = await hash();
    expect(edited, "an uncommitted edit changes the hash").to.not.equal(first);
    repo.commit("edit");
    expect(await hash()).to.equal(edited);
    expect(repo.git("status", "--porcelain"), "the user's index is untouched").to.equal("");
  });

  it("gives the same hash as git for the same content in another repository", async () => {
    await using a = await GitFixture.create(files);
    await using b = await GitFixture.create({ ...files, "docs/other.md": "x\n" });
    const hashA = await treeHashOf(a.dir, await listContextFiles(a.dir, "Dockerfile"));
    const hashB = await treeHashOf(b.dir, await listContextFiles(b.dir, "Dockerfile"));
    expect(hashA).to.equal(hashB);
  });
});
