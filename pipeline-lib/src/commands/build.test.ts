import { expect } from "chai";
import Docker from "dockerode";
import { readArtifact } from "../artifact/build-artifact.js";
import { StageError, ConfigError } from "../errors.js";
import { DockerImageBuilder } from "../engine/image-builder.js";
import { baseImages } from "../test-support/base-images.js";
import { testContext } from "../test-support/command-context.js";
import { GitFixture } from "../test-support/git-fixture.js";
import { build, type BuildOptions } from "./build.js";
import { rejection } from "../test-support/rejection.js";

const docker = new Docker();
const options: BuildOptions = { artifact: "build.json", reuse: false, buildArgs: {} };

function configFor(repository: string, dockerfile = "Dockerfile") {
  return `app:
  name: fixture
  sourceUrl: https://example.com/fixture.git
image:
  repository: ${repository}
  dockerfile: ${dockerfile}
  buildArgs:
    GREETING: hello
`;
}

/** A unique repository per test, so runs never see each other's images. */
function uniqueRepository(): string {
  return `127.0.0.1:5999/pipeline-build-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

async function removeRepository(repository: string): Promise<void> {
  const images = await docker.listImages({ filters: { reference: [`${repository}:*`] } });
  for (const image of images) {
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

describe("pipeline build @slow", function () {
  this.timeout(120_000);
  const repositories: string[] = [];
  after(async () => {
    for (const repository of repositories) await removeRepository(repository);
  });

  const fixtureFiles = {
    Dockerfile: [
      "FROM scratch",
      "ARG GREETING",
      "ARG GIT_COMMIT",
      "COPY app/ /app/",
      "LABEL greeting=$GREETING commit=$GIT_COMMIT",
      "",
    ].join("\n"),
    ".dockerignore": "*\n!app/\n",
    "app/hello.txt": "hello\n",
    "README.md": "not an input\n",
  };

  it("builds through the Docker Engine with OCI labels, build args and content + branch tags", async () => {
    await using repo = await GitFixture.create(fixtureFiles);
    const repository = uniqueRepository();
    repositories.push(repository);
    const commit = repo.git("rev-parse", "HEAD");
    const ctx = testContext({
      cwd: repo.dir,
      configText: configFor(repository),
      env: { BUILD_NUMBER: "17", BRANCH_NAME: "feature/x", GIT_COMMIT: commit },
    });

    const { artifact } = await build(options, ctx);

    expect(artifact.tags).to.deep.equal([`tree-${artifact.treeHash}`, "feature-x-17"]);
    expect(artifact.reused).to.equal(false);
    const saved = await readArtifact(`${repo.dir}/build.json`);
    expect(saved).to.deep.equal(artifact);
    for (const tag of artifact.tags) {
      const info = await docker.getImage(`${repository}:${tag}`).inspect();
      expect(info.Id).to.equal(artifact.imageId);
    }
    const labels = (await docker.getImage(artifact.imageId!).inspect()).Config.Labels;
    expect(labels).to.include({
      "org.opencontainers.image.revision": commit,
      "org.opencontainers.image.source": "https://example.com/fixture.git",
      "org.opencontainers.image.title": "fixture",
      "org.opencontainers.image.created": artifact.builtAt,
      "dev.pipeline-lib.tree-hash": artifact.treeHash,
      greeting: "hello",
      commit,
    });
    expect(ctx.reporter.lines.some((l) => /^Step \d+\/\d+ : COPY app/.test(l))).to.equal(true);
  });

  it("gives the same content tag for the same tree, on another commit", async () => {
    await using repo = await GitFixture.create(fixtureFiles);
    const repository = uniqueRepository();
    repositories.push(repository);
    const ctx = testContext({ cwd: repo.dir, configText: configFor(repository) });
    const first = await build(options, ctx);
    await repo.write({ "README.md": "edited, still not an input\n" });
    repo.commit("docs only");
    const second = await build(options, ctx);
    expect(second.artifact.tags[0]).to.equal(first.artifact.tags[0]);

    await repo.write({ "app/hello.txt": "changed\n" });
    repo.commit("input changed");
    const third = await build(options, ctx);
    expect(third.artifact.tags[0]).to.not.equal(first.artifact.tags[0]);
  });

  it("exits 1 and names the failing step and the daemon's message", async () => {
    await using repo = await GitFixture.create({
      Dockerfile: `FROM ${(await baseImages()).node}\nRUN echo preparing\nRUN echo about to fail && false\nRUN echo never\n`,
    });
    const repository = uniqueRepository();
    repositories.push(repository);
    const ctx = testContext({ cwd: repo.dir, configText: configFor(repository) });
    const error = await rejection(build(options, ctx));
    expect(error).to.be.instanceOf(StageError);
    const message = (error as StageError).message;
    expect((error as StageError).exitCode).to.equal(1);
    expect(message).to.match(/at Step 3\/\d+ \(RUN echo about to fail && false\)/);
    expect(message).to.match(/returned a non-zero code: 1/);
    expect(message).to.include("about to fail");
  });

  it("names a missing Dockerfile", async () => {
    await using repo = await GitFixture.create({ "app/hello.txt": "hi\n" });
    const ctx = testContext({
      cwd: repo.dir,
      configText: configFor(uniqueRepository(), "docker/Dockerfile"),
    });
    const error = await rejection(build(options, ctx));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.match(/Dockerfile .*docker\/Dockerfile does not exist/);
  });

  it("says how to start the engine when it cannot be reached", async () => {
    await using repo = await GitFixture.create(fixtureFiles);
    const ctx = testContext({ cwd: repo.dir, configText: configFor(uniqueRepository()) });
    const unreachable = new Docker({ socketPath: `${repo.dir}/no-such-docker.sock` });
    const error = await rejection(
      build(options, ctx, { builder: new DockerImageBuilder(unreachable) }),
    );
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.include(
      `cannot reach the Docker Engine at ${repo.dir}/no-such-docker.sock`,
    );
    expect(error.message).to.include("ensure-engine.sh");
  });
});
