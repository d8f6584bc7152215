import { expect } from "chai";
import Docker from "dockerode";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ConfigError, StageError } from "../errors.js";
import { packContext } from "../engine/build-context.js";
import { DockerImageBuilder } from "../engine/image-builder.js";
import { baseImages } from "../test-support/base-images.js";
import { testContext } from "../test-support/command-context.js";
import { GitFixture } from "../test-support/git-fixture.js";
import { build } from "./build.js";
import { test as runTest } from "./test.js";
import { rejection } from "../test-support/rejection.js";

const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");
/** NODE_IMAGE and REDIS_IMAGE are added in `before`. */
const env: NodeJS.ProcessEnv = { PIPELINE_EXTRA_CA_FILE: process.env.PIPELINE_EXTRA_CA_FILE ?? "" };
const docker = new Docker();

/** An image that answers 200 with an empty body everywhere: up, but not our service. */
function buildImpostor(): Promise<string> {
  const server = "require('http').createServer((q,s)=>{s.end()}).listen(+process.env.PORT||3000)";
  return buildNodeImage("pipeline-test-impostor", server);
}

/** An image whose command is `node -e script` (no double quotes in it). */
async function buildNodeImage(name: string, script: string): Promise<string> {
  await using repo = await GitFixture.create({
    Dockerfile: `FROM ${env.NODE_IMAGE}\nCMD ["node", "-e", "${script}"]\n`,
  });
  const tag = `${name}:${process.pid}`;
  await new DockerImageBuilder(docker).build({
    context: async () =>
      (await packContext({ contextDir: repo.dir, dockerfile: "Dockerfile" })).tar,
    dockerfile: "Dockerfile",
    buildArgs: {},
    labels: {},
    tags: [tag],
  });
  return tag;
}

describe("pipeline test @slow", function () {
  this.timeout(300_000);
  const cleanup: string[] = [];
  before(async () => {
    const { node, redis } = await baseImages();
    Object.assign(env, { NODE_IMAGE: node, REDIS_IMAGE: redis });
  });
  after(async () => {
    for (const image of cleanup)
      await docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => undefined);
  });

  it("passes the contract against the service image it builds, and writes JUnit XML", async () => {
    const ctx = testContext({
      cwd: REPO_ROOT,
      configText: await readFile(path.join(REPO_ROOT, "pipeline.config.yaml"), "utf8"),
      env,
    });
    const artifactFile = path.join(REPO_ROOT, "reports", `build-${process.pid}.json`);
    const { artifact } = await build({ artifact: artifactFile, reuse: false, buildArgs: {} }, ctx);
    const junit = path.join(REPO_ROOT, "reports", `contract-${process.pid}.xml`);

    const result = await runTest({ artifact: artifactFile, junit }, ctx);

    expect(result.image).to.equal(artifact.imageId);
    expect(result.results.length).to.be.greaterThanOrEqual(8);
    expect(result.results.every((r) => r.passed)).to.equal(true);
    const xml = await readFile(junit, "utf8");
    expect(xml).to.match(/<testsuites tests="\d+" failures="0"/);
    expect(xml).to.include("two POSTs to /api/visits raise the count by exactly 2");
  });

  it("exits 1 and reports each broken promise when the image is not the service", async () => {
    const image = await buildImpostor();
    cleanup.push(image);
    const ctx = testContext({
      cwd: REPO_ROOT,
      configText: await readFile(path.join(REPO_ROOT, "pipeline.config.yaml"), "utf8"),
      env,
    });
    const junit = path.join(REPO_ROOT, "reports", `impostor-${process.pid}.xml`);
    const error = await rejection(runTest({ image, artifact: "unused.json", junit }, ctx));
    expect(error).to.be.instanceOf(StageError);
    const message = error.message;
    expect(message).to.match(/contract checks failed against pipeline-test-impostor/);
    expect(message).to.include("unknown route answered 200");
    const xml = await readFile(junit, "utf8");
    expect(xml).to.match(/failures="[1-9]/);
  });

  it("an app that never gets ready: exits 1 after the startup timeout, with the app's last log lines", async () => {
    const image = await buildNodeImage(
      "pipeline-test-never-ready",
      "console.log('booting: cannot reach the settings store'); setInterval(() => {}, 1000)",
    );
    cleanup.push(image);
    const config = await readFile(path.join(REPO_ROOT, "pipeline.config.yaml"), "utf8");
    const ctx = testContext({
      cwd: REPO_ROOT,
      configText: config.replace(/^test:\n/m, "test:\n  startupTimeoutSeconds: 3\n"),
      env,
    });
    const junit = path.join(REPO_ROOT, "reports", `never-ready-${process.pid}.xml`);
    const error = await rejection(runTest({ image, artifact: "unused.json", junit }, ctx));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.include(`${image} did not become ready within 3s`);
    expect(error.message).to.match(
      /last 30 log lines of the app:\n {2}booting: cannot reach the settings store/,
    );
  });

  it("names an image that the engine does not have", async () => {
    const ctx = testContext({
      cwd: REPO_ROOT,
      configText: await readFile(path.join(REPO_ROOT, "pipeline.config.yaml"), "utf8"),
      env,
    });
    const error = await rejection(
      runTest(
        { image: "pipeline-no-such-image:404", artifact: "unused.json", junit: "reports/x.xml" },
        ctx,
      ),
    );
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.include(
      "image pipeline-no-such-image:404 is not in the Docker Engine",
    );
  });
});
