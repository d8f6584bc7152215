import { expect } from "chai";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { snapshotRepository } from "./support/snapshot-repository.js";
import {
  startRegistryServer,
  type StartedRegistryServer,
} from "../pipeline-lib/src/test-support/registry-server.js";
import { baseImages } from "./support/base-images.js";
import { runPipelineBin } from "../pipeline-lib/src/test-support/run-process.js";
import { makeSigningKey } from "../pipeline-lib/src/test-support/signing-key.js";

const ROOT = path.resolve(import.meta.dirname, "..");

/** The shipped bin, as Jenkins runs it: a real process, real exit codes. */
function pipeline(args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  return runPipelineBin(args, { env, cwd });
}

describe("pipeline build && pipeline test && pipeline push, through the bin @slow", function () {
  this.timeout(600_000);
  let registry: StartedRegistryServer;
  let work: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    await access(path.join(ROOT, "pipeline-lib/dist/main.js")).catch(() => {
      throw new Error("pipeline-lib is not built; run `npm run build` (npm test does)");
    });
    // Sets NODE_IMAGE and REDIS_IMAGE, which the config passes on, when npm test has not.
    await baseImages();
    registry = await startRegistryServer();
    work = await snapshotRepository(await mkdtemp(path.join(os.tmpdir(), "pipeline-flow-")));
    env = {
      ...process.env,
      IMAGE_REPOSITORY: `${registry.host}/visit-counter-flow`,
      REGISTRY_AUTH: "basic",
      REGISTRY_USERNAME: registry.username,
      REGISTRY_PASSWORD: registry.password,
      BRANCH_NAME: "develop",
      BUILD_NUMBER: "7",
      TESTCONTAINERS_RYUK_DISABLED: "true",
      ...(await makeSigningKey(path.join(path.dirname(work), "keys"))).env,
    };
  });
  after(async () => {
    await registry?.[Symbol.asyncDispose]();
    if (work) await rm(path.dirname(work), { recursive: true, force: true });
  });

  it("ships one digest-addressed image with its signed evidence, and reuses it only once it is verified", async () => {
    const build = await pipeline(["build"], env, work);
    expect(build.code, build.stderr).to.equal(0);
    expect(build.stderr).to.match(/\[build \+\d+\.\ds\] Step 1\/\d+ :/);

    const test = await pipeline(["test", "--junit", "reports/contract.xml"], env, work);
    expect(test.code, test.stderr).to.equal(0);
    expect(await readFile(path.join(work, "reports/contract.xml"), "utf8")).to.include(
      'failures="0"',
    );

    const push = await pipeline(["push", "--json"], env, work);
    expect(push.code, push.stderr).to.equal(0);
    expect(push.stdout + push.stderr).to.not.include(registry.password);
    const artifact = JSON.parse(await readFile(path.join(work, "build.json"), "utf8")) as {
      digest: string;
      imageRef: string;
      tags: string[];
    };
    expect(artifact.digest).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(artifact.imageRef).to.equal(`${registry.host}/visit-counter-flow@${artifact.digest}`);
    expect(artifact.tags[1]).to.equal("develop-7");

    // The registry itself serves that digest under the content tag.
    const auth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString("base64")}`;
    const manifest = await fetch(
      `${registry.url}/v2/visit-counter-flow/manifests/${artifact.tags[0]}`,
      {
        method: "HEAD",
        headers: {
          authorization: auth,
          accept: "application/vnd.docker.distribution.manifest.v2+json",
        },
      },
    );
    expect(manifest.headers.get("docker-content-digest")).to.equal(artifact.digest);

    const promote = await pipeline(
      ["promote", "--digest", artifact.digest, "--tag", "release-7"],
      env,
      work,
    );
    expect(promote.code, promote.stderr).to.equal(0);
    const again = await pipeline(
      ["--json", "promote", "--digest", artifact.digest, "--tag", "release-7"],
      env,
      work,
    );
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.include({ change: "unchanged", digest: artifact.digest });

    // Provenance, SBOM and the test results, signed beside the image.
    const attest = await pipeline(["--json", "attest"], env, work);
    expect(attest.code, attest.stderr).to.equal(0);
    expect(JSON.parse(attest.stdout)).to.include({ added: 3, skipped: 0 });
    const again2 = await pipeline(["--json", "attest"], env, work);
    expect(JSON.parse(again2.stdout), "attesting twice stores nothing twice").to.include({
      added: 0,
      skipped: 3,
    });
    const shown = await pipeline(["--json", "evidence", "--env", "test"], env, work);
    expect(shown.code, shown.stderr).to.equal(0);
    const report = JSON.parse(shown.stdout) as {
      accepted: { kind: string }[];
      tests: { result: string; passed: number };
      builtFrom: { ref: string };
      verdict: { ok: boolean };
    };
    expect(report.accepted.map((a) => a.kind)).to.have.members(["provenance", "sbom", "tests"]);
    expect(report.tests.result).to.equal("PASSED");
    expect(report.tests.passed).to.be.greaterThan(3);
    expect(report.builtFrom.ref).to.equal("develop");
    expect(report.verdict.ok).to.equal(true);
    const forProduction = await pipeline(["evidence", "--env", "production"], env, work);
    expect(forProduction.code).to.equal(1);
    expect(forProduction.stdout).to.include("a passed verification in test");

    // Same inputs, next build: the registry has it, but it was never verified in
    // test, so production would refuse it and it is built again, not reused.
    const reuse = await pipeline(
      ["--json", "build", "--reuse"],
      { ...env, BUILD_NUMBER: "8" },
      work,
    );
    expect(reuse.code, reuse.stderr).to.equal(0);
    expect(JSON.parse(reuse.stdout)).to.include({ reused: false });
    expect(reuse.stderr).to.include("production would refuse it");
    expect(reuse.stderr).to.match(/Step 1\//);
  });

  it("exits 2 on a configuration error and names the variable", async () => {
    const run = await pipeline(["push"], { ...env, REGISTRY_PASSWORD: "" }, work);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include("REGISTRY_PASSWORD");
  });
});
