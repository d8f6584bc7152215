import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import Docker from "dockerode";
import { readArtifact, writeArtifact, type BuildArtifact } from "../artifact/build-artifact.js";
import { ConfigError, describeError, ExitCode, StageError } from "../errors.js";
import { ImagePusher } from "../engine/image-pusher.js";
import { parseRepository } from "../reference/image-reference.js";
import { everythingSaid, registryTestContext } from "../test-support/registry-test-context.js";
import { buildTestImage, type TestImage } from "../test-support/test-image.js";
import {
  startRegistryServer,
  type StartedRegistryServer,
} from "../test-support/registry-server.js";
import { push } from "./push.js";
import { rejection } from "../test-support/rejection.js";

const ACCEPT = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
].join(", ");

describe("pipeline push @slow", function () {
  this.timeout(180_000);
  let server: StartedRegistryServer;
  let image: TestImage;
  let dir: string;
  let repository: string;
  let repoPath: string;
  const treeHash = randomBytes(20).toString("hex");
  const contentTag = `tree-${treeHash}`;

  before(async () => {
    server = await startRegistryServer();
    repoPath = `pipeline-push-test-${process.pid}-${randomBytes(3).toString("hex")}`;
    repository = `${server.host}/${repoPath}`;
    image = await buildTestImage(repository, [contentTag, "develop-7"]);
    dir = await mkdtemp(path.join(tmpdir(), "pipeline-push-test-"));
  });

  after(async () => {
    await image?.[Symbol.asyncDispose]();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function env(password = server.password): NodeJS.ProcessEnv {
    return { REGISTRY_USERNAME: server.username, REGISTRY_PASSWORD: password };
  }

  async function writeTestArtifact(name: string, overrides: Partial<BuildArtifact> = {}) {
    const file = path.join(dir, name);
    await writeArtifact(file, {
      schemaVersion: 1,
      app: "visit-counter",
      repository,
      treeHash,
      tags: [contentTag, "develop-7"],
      imageId: image.id,
      builtAt: "2026-11-25T21:00:00.000Z",
      reused: false,
      ...overrides,
    });
    return file;
  }

  /** Reads a manifest straight from the registry, independent of our client. */
  async function served(reference: string) {
    const response = await fetch(`${server.url}/v2/${repoPath}/manifests/${reference}`, {
      headers: {
        accept: ACCEPT,
        authorization: `Basic ${Buffer.from(`${server.username}:${server.password}`).toString("base64")}`,
      },
    });
    const body = Buffer.from(await response.arrayBuffer());
    return {
      status: response.status,
      headerDigest: response.headers.get("docker-content-digest"),
      bodyDigest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
    };
  }

  it("pushes every tag and records a digest that the registry then serves", async () => {
    const file = await writeTestArtifact("build.json");
    const { ctx, reporter } = registryTestContext(dir, repository, env());

    const result = await push({ artifact: "build.json" }, ctx, {
      clock: { now: () => Date.parse("2026-11-25T22:00:00Z") },
    });

    expect(result.digest).to.match(/^sha256:[0-9a-f]{64}$/);
    const artifact = await readArtifact(file);
    expect(artifact).to.include({
      digest: result.digest,
      imageRef: `${repository}@${result.digest}`,
      pushedAt: "2026-11-25T22:00:00.000Z",
      imageId: image.id,
    });
    for (const reference of [result.digest, contentTag, "develop-7"]) {
      expect(await served(reference), reference).to.deep.equal({
        status: 200,
        headerDigest: result.digest,
        bodyDigest: result.digest,
      });
    }
    expect(reporter.results).to.have.length(1);
    expect(reporter.results[0]!.summary).to.include(`pushed ${repository}@${result.digest}`);
    // Without --verbose, layers are summarised per tag; their statuses are detail only.
    const progress = reporter.progressLines;
    expect(progress.filter((l) => l.startsWith(`pushed ${repository}:`))).to.have.length(2);
    expect(progress.find((l) => l.startsWith(`pushed ${repository}:${contentTag} (`))).to.match(
      / layers: \d+ uploaded, \d+ already in the registry\)$/,
    );
    expect(progress.length).to.be.at.most(10);
    expect(progress.filter((l) => /: (Pushing|Preparing|Waiting)$/.test(l))).to.deep.equal([]);
    expect(
      reporter.detailLines.some((l) => /^[0-9a-f]{12}: (Pushed|Layer already exists)$/.test(l)),
    ).to.be.true;
    expect(everythingSaid(reporter)).to.not.include(server.password);
  });

  it("a wrong password fails naming the registry, leaves the artifact untouched and never shows the password", async () => {
    const file = await writeTestArtifact("wrong-password.json");
    const before = await readFile(file, "utf8");
    const wrong = `wrong-${randomBytes(8).toString("hex")}`;
    const { ctx, reporter } = registryTestContext(dir, repository, env(wrong));

    const error = await rejection(push({ artifact: file }, ctx));

    expect(error).to.be.instanceOf(StageError);
    expect((error as StageError).exitCode).to.equal(ExitCode.StageFailed);
    expect(error.message).to.match(
      new RegExp(`^push to ${server.host.replace(/\./g, "\\.")} was refused: .*unauthorized`),
    );
    expect(await readFile(file, "utf8")).to.equal(before);
    const said = everythingSaid(reporter, error) + describeError(error);
    expect(said).to.not.include(wrong);
    expect(said).to.not.include(server.password);
  });

  it("a missing password variable is a ConfigError naming it, before anything is pushed", async () => {
    const file = await writeTestArtifact("no-password.json");
    const before = await readFile(file, "utf8");
    const { ctx, reporter } = registryTestContext(dir, repository, {
      REGISTRY_USERNAME: server.username,
    });

    const error = await rejection(push({ artifact: file }, ctx));

    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.include("REGISTRY_PASSWORD is not set").and.include(server.host);
    expect(reporter.lines.filter((l) => l.startsWith("pushing"))).to.deep.equal([]);
    expect(await readFile(file, "utf8")).to.equal(before);
  });

  for (const what of ["tag", "repository"] as const) {
    it(`an image whose ${what} is not in the local Engine fails naming it`, async () => {
      const repo = what === "tag" ? repository : `${server.host}/never-built-${process.pid}`;
      const file = await writeTestArtifact(`not-built-${what}.json`, {
        repository: repo,
        tags: ["tree-not-built-here"],
      });
      const { ctx } = registryTestContext(dir, repository, env());

      const error = await rejection(push({ artifact: file }, ctx));

      expect(error).to.be.instanceOf(StageError);
      expect(error.message).to.equal(
        `image ${repo}:tree-not-built-here is not in the local Docker Engine; run \`pipeline build\` first`,
      );
    });
  }

  it("an unreachable Docker Engine fails saying how to start it, and the artifact is untouched", async () => {
    const file = await writeTestArtifact("no-engine.json", {});
    const before = await readFile(file, "utf8");
    const { ctx } = registryTestContext(dir, repository, env());
    const socketPath = path.join(dir, "no-such-docker.sock");

    const error = await rejection(
      push({ artifact: file }, ctx, { docker: new Docker({ socketPath }) }),
    );

    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.include(`cannot reach the Docker Engine at ${socketPath}`);
    expect(error.message).to.include("ensure-engine.sh");
    expect(await readFile(file, "utf8")).to.equal(before);
  });

  it("a reused image is tagged in the registry, without a local image for the new tag", async () => {
    const { digest } = await new ImagePusher().push({
      reference: parseRepository(repository),
      tags: [contentTag],
      credentials: {
        username: server.username,
        password: server.password,
        serveraddress: server.host,
      },
      reporter: registryTestContext(dir, repository, env()).reporter,
    });
    // `main-9` exists nowhere locally: only the registry can give it to the image.
    const file = await writeTestArtifact("reused.json", {
      tags: [contentTag, "main-9"],
      reused: true,
    });
    const { ctx } = registryTestContext(dir, repository, env());

    const result = await push({ artifact: file }, ctx);

    expect(result).to.include({ digest, reused: true });
    expect((await served("main-9")).headerDigest).to.equal(digest);
    expect((await readArtifact(file)).imageRef).to.equal(`${repository}@${digest}`);
  });
});
