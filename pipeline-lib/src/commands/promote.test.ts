import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ExitCode, StageError, UsageError } from "../errors.js";
import { ImagePusher } from "../engine/image-pusher.js";
import { parseRepository } from "../reference/image-reference.js";
import { everythingSaid, registryTestContext } from "../test-support/registry-test-context.js";
import { buildTestImage, type TestImage } from "../test-support/test-image.js";
import {
  startRegistryServer,
  type StartedRegistryServer,
} from "../test-support/registry-server.js";
import { promote, type PromoteOptions } from "./promote.js";
import { rejection } from "../test-support/rejection.js";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const GOOD_DIGEST = `sha256:${"0".repeat(64)}`;

describe("pipeline promote: usage", () => {
  const bad: [string, Partial<PromoteOptions>, string][] = [
    ["a digest without sha256:", { digest: "0".repeat(64) }, `--digest "${"0".repeat(64)}"`],
    ["a short digest", { digest: "sha256:abc" }, '--digest "sha256:abc"'],
    ["an uppercase digest", { digest: `sha256:${"A".repeat(64)}` }, "--digest"],
    [
      "a full image reference as digest",
      { digest: `127.0.0.1:5000/app@${GOOD_DIGEST}` },
      "pass only the part after @",
    ],
    ["a tag with a slash", { tag: "release/1" }, '--tag "release/1"'],
    ["a tag starting with a dash", { tag: "-x" }, '--tag "-x"'],
    ["an empty tag", { tag: "" }, '--tag ""'],
    [
      "a repository with a tag",
      { repository: "127.0.0.1:5000/app:latest" },
      '"127.0.0.1:5000/app:latest"',
    ],
  ];
  for (const [what, options, named] of bad) {
    it(`${what} ⇒ UsageError (exit 2) naming the value, before touching config or registry`, async () => {
      const { ctx, configReads } = registryTestContext(tmpdir(), "127.0.0.1:9/app", {});
      const error = await rejection(
        promote({ digest: GOOD_DIGEST, tag: "production", ...options }, ctx),
      );
      expect(error).to.be.instanceOf(UsageError);
      expect((error as UsageError).exitCode).to.equal(ExitCode.Usage);
      expect(error.message).to.include(named);
      expect(configReads()).to.equal(0);
    });
  }
});

describe("pipeline promote @slow", function () {
  this.timeout(180_000);
  let server: StartedRegistryServer;
  let image: TestImage;
  let dir: string;
  let repository: string;
  let repoPath: string;
  let digest: string;
  let otherDigest: string;

  before(async () => {
    server = await startRegistryServer();
    repoPath = `pipeline-promote-test-${process.pid}-${randomBytes(3).toString("hex")}`;
    repository = `${server.host}/${repoPath}`;
    dir = await mkdtemp(path.join(tmpdir(), "pipeline-promote-test-"));
    image = await buildTestImage(repository, ["tree-promote"]);
    ({ digest } = await new ImagePusher().push({
      reference: parseRepository(repository),
      tags: ["tree-promote"],
      credentials: {
        username: server.username,
        password: server.password,
        serveraddress: server.host,
      },
      reporter: registryTestContext(dir, repository, {}).reporter,
    }));
    // A second manifest over the same blobs: the same JSON, serialised differently.
    const manifest = await registryRequest("GET", `manifests/${digest}`);
    const reserialised = JSON.stringify(JSON.parse(await manifest.text()));
    const put = await registryRequest("PUT", "manifests/tree-other", reserialised);
    expect(put.status).to.equal(201);
    otherDigest = put.headers.get("docker-content-digest")!;
    expect(otherDigest).to.not.equal(digest);
  });

  after(async () => {
    await image?.[Symbol.asyncDispose]();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Talks to the registry directly, independent of the client under test. */
  function registryRequest(method: string, pathAndRef: string, body?: string) {
    return fetch(`${server.url}/v2/${repoPath}/${pathAndRef}`, {
      method,
      headers: {
        accept: DOCKER_MANIFEST,
        authorization: `Basic ${Buffer.from(`${server.username}:${server.password}`).toString("base64")}`,
        ...(body ? { "content-type": DOCKER_MANIFEST } : {}),
      },
      ...(body ? { body } : {}),
    });
  }

  async function tagDigest(tag: string): Promise<string | null> {
    const response = await registryRequest("HEAD", `manifests/${tag}`);
    return response.status === 200 ? response.headers.get("docker-content-digest") : null;
  }

  function context(password = server.password) {
    return registryTestContext(dir, repository, {
      REGISTRY_USERNAME: server.username,
      REGISTRY_PASSWORD: password,
    });
  }

  it("makes the new tag resolve to the same digest, and a second run changes nothing", async () => {
    const first = context();
    const created = await promote({ digest, tag: "production" }, first.ctx);
    expect(created).to.include({ change: "created", imageRef: `${repository}@${digest}` });
    expect(await tagDigest("production")).to.equal(digest);
    expect(first.reporter.results[0]!.summary).to.equal(
      `tagged ${repository}@${digest} as production`,
    );

    const second = context();
    const again = await promote({ digest, tag: "production" }, second.ctx);
    expect(again.change).to.equal("unchanged");
    expect(second.reporter.results[0]!.summary).to.include("nothing to do");
    expect(await tagDigest("production")).to.equal(digest);
  });

  it("moves a tag that points to another digest and reports where it pointed", async () => {
    await promote({ digest: otherDigest, tag: "staging" }, context().ctx);
    expect(await tagDigest("staging")).to.equal(otherDigest);

    const moved = await promote({ digest, tag: "staging" }, context().ctx);

    expect(moved).to.include({ change: "moved", previousDigest: otherDigest });
    expect(await tagDigest("staging")).to.equal(digest);
  });

  it("takes --repository over the config's repository", async () => {
    const { ctx } = registryTestContext(dir, `${server.host}/somewhere-else`, {
      REGISTRY_USERNAME: server.username,
      REGISTRY_PASSWORD: server.password,
    });
    const result = await promote({ digest, tag: "via-flag", repository }, ctx);
    expect(result.change).to.equal("created");
    expect(await tagDigest("via-flag")).to.equal(digest);
  });

  it("a digest that is not in the repository fails naming digest and repository", async () => {
    const missing = `sha256:${"f".repeat(64)}`;
    const error = await rejection(promote({ digest: missing, tag: "production" }, context().ctx));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.equal(`manifest ${missing} is not in ${repository}; push it first`);
    expect(await tagDigest("production")).to.equal(digest);
  });

  it("a wrong password fails naming the registry and never shows the password", async () => {
    const wrong = `wrong-${randomBytes(8).toString("hex")}`;
    const { ctx, reporter } = context(wrong);
    const error = await rejection(promote({ digest, tag: "never" }, ctx));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.include(`registry ${server.host} refused the credentials`);
    expect(error.message).to.include("REGISTRY_USERNAME/REGISTRY_PASSWORD");
    const said = everythingSaid(reporter, error);
    expect(said).to.not.include(wrong);
    expect(said).to.not.include(server.password);
    expect(await tagDigest("never")).to.equal(null);
  });
});
