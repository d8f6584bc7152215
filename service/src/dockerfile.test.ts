import { RedisContainer, type StartedRedisContainer } from "@testcontainers/redis";
import { expect } from "chai";
import Docker from "dockerode";
import { randomBytes, randomUUID } from "node:crypto";
import { cp, mkdtemp, rm, copyFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  GenericContainer,
  Network,
  Wait,
  type StartedNetwork,
  type StartedTestContainer,
} from "testcontainers";
import { baseImages } from "./test-support/base-images.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
/** limits.memory of the app's container in k8s/visit-counter.yaml. */
const POD_MEMORY_LIMIT_BYTES = 256 * 1024 ** 2;
const SKIP_IN_CONTEXT = new Set(["node_modules", ".git", "dist", "reports", "coverage"]);

/**
 * The build context as `docker build -f service/Dockerfile .` sees it from
 * the repository root (its .dockerignore applies), in a temporary copy so
 * that the optional extra-ca.pem never lands in the working tree.
 */
async function prepareContext(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "visit-counter-context-"));
  await cp(REPO_ROOT, dir, {
    recursive: true,
    filter: (source) => !source.split("/").some((part) => SKIP_IN_CONTEXT.has(part)),
  });
  const hostCa = await access(HOST_CA_BUNDLE).then(
    () => true,
    () => false,
  );
  // Behind a TLS-intercepting proxy npm needs the host's CAs; harmless elsewhere.
  if (hostCa) await copyFile(HOST_CA_BUNDLE, join(dir, "extra-ca.pem"));
  return dir;
}

describe("service image @slow", function () {
  this.timeout(600_000);
  const docker = new Docker();
  const image = `visit-counter-test:${randomUUID().slice(0, 8)}`;
  const build = {
    APP_VERSION: "9.8.7-test",
    GIT_COMMIT: randomBytes(20).toString("hex"),
    BUILD_TIME: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    SOURCE_URL: "https://example.test/pipeline-lib",
  };
  let network: StartedNetwork | undefined;
  let redis: StartedRedisContainer | undefined;
  let app: StartedTestContainer | undefined;
  let base = "";

  before(async () => {
    const images = await baseImages();
    const context = await prepareContext();
    try {
      await GenericContainer.fromDockerfile(context, "service/Dockerfile")
        .withBuildArgs({ NODE_IMAGE: images.node, ...build })
        .build(image, { deleteOnExit: false });
    } finally {
      await rm(context, { recursive: true, force: true });
    }
    network = await new Network().start();
    redis = await new RedisContainer(images.redis)
      .withNetwork(network)
      .withNetworkAliases("redis")
      .start();
    app = await new GenericContainer(image)
      .withNetwork(network)
      .withEnvironment({ REDIS_URL: "redis://redis:6379", REDIS_KEY_PREFIX: "image-test:" })
      .withExposedPorts(3000)
      // The pod's memory limit (k8s/visit-counter.yaml): V8 sizes its heap from it.
      .withResourcesQuota({ memory: POD_MEMORY_LIMIT_BYTES / 1024 ** 3 })
      .withWaitStrategy(Wait.forHttp("/readyz", 3000).forStatusCode(200))
      .withStartupTimeout(30_000)
      .start();
    base = `http://${app.getHost()}:${app.getMappedPort(3000)}`;
  });

  after(async () => {
    await app?.stop().catch(() => {});
    await redis?.stop();
    await network?.stop();
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => {});
  });

  it("serves the page and the API against Redis", async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).to.equal(200);
    expect(page.headers.get("content-type")).to.equal("text/html; charset=utf-8");
    const html = await page.text();
    expect(html).to.include('<dd data-testid="visits">1</dd>');
    expect(html).not.to.include("Counting in memory");

    const visits = await fetch(`${base}/api/visits`);
    expect(await visits.json()).to.deep.equal({ visits: 1, uniqueVisitors: 1 });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).to.equal(200);
    expect(await ready.json()).to.deep.equal({ status: "ready" });
  });

  it("reports the build arguments in /version and the OCI labels", async () => {
    const version = await fetch(`${base}/version`);
    expect(await version.json()).to.deep.equal({
      version: build.APP_VERSION,
      commit: build.GIT_COMMIT,
      buildTime: build.BUILD_TIME,
    });
    const info = await docker.getImage(image).inspect();
    expect(info.Config.Labels).to.include({
      "org.opencontainers.image.version": build.APP_VERSION,
      "org.opencontainers.image.revision": build.GIT_COMMIT,
      "org.opencontainers.image.created": build.BUILD_TIME,
      "org.opencontainers.image.source": build.SOURCE_URL,
      "org.opencontainers.image.title": "visit-counter",
    });
  });

  it("runs as a numeric non-root user with production dependencies only", async () => {
    const info = await docker.getImage(image).inspect();
    expect(info.Config.User).to.equal("1000:1000");
    expect(info.Config.Env).to.include("NODE_ENV=production");

    const id = await app!.exec(["id", "-u"]);
    expect(id.output.trim()).to.equal("1000");
    const leftovers = await app!.exec([
      "sh",
      "-c",
      "ls -d /app/extra-ca.pem /app/node_modules/typescript /app/node_modules/testcontainers " +
        "/app/node_modules/dockerode /app/service/src 2>/dev/null; true",
    ]);
    expect(leftovers.output.trim(), "files that must not be in the image").to.equal("");
    const ioredis = await app!.exec(["test", "-f", "/app/node_modules/ioredis/package.json"]);
    expect(ioredis.exitCode).to.equal(0);
    const unread = await app!.exec([
      "sh",
      "-c",
      "ls -d /app/node_modules/@types /app/node_modules/bintrees/test 2>/dev/null; " +
        "find /app/node_modules -name '*.d.ts' -o -name 'README.md' | head -3",
    ]);
    expect(unread.output.trim(), "files the runtime never reads").to.equal("");
  });

  it("keeps a young generation sized for throughput within the pod's memory limit", async () => {
    const container = await docker.getContainer(app!.getId()).inspect();
    expect(container.HostConfig.Memory).to.equal(POD_MEMORY_LIMIT_BYTES);
    // Under a 256 MiB limit V8 alone would give the new space 1 MiB per semi-space (2 MiB in
    // all) and scavenge so often that the page loses half its throughput; the image's CMD
    // raises it (--max-semi-space-size=16). prom-client reports what V8 actually uses.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const newSpace = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(metrics);
    expect(newSpace, "the new space's size in /metrics").to.not.equal(null);
    expect(Number(newSpace![1])).to.be.at.least(8 * 1024 ** 2);
  });

  it("stops gracefully with exit code 0 on docker stop", async () => {
    const container = docker.getContainer(app!.getId());
    await container.stop({ t: 10 });
    const state = (await container.inspect()).State;
    expect(state.ExitCode).to.equal(0);
  });
});
