import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import type { Cluster } from "../../infra/testbed/cluster.js";
import { keyFileSigner } from "../../pipeline-lib/src/evidence/keys.js";
import { attestationTag } from "../../pipeline-lib/src/evidence/cosign-layout.js";
import { recordEvidence } from "../../pipeline-lib/src/evidence/registry-evidence.js";
import {
  testResultPredicate,
  verificationPredicate,
} from "../../pipeline-lib/src/evidence/statements.js";
import type { TestRegistry } from "../support/suite-registry.js";
import {
  runPipelineBin,
  type ProcessRun,
} from "../../pipeline-lib/src/test-support/run-process.js";
import {
  makeSigningKey,
  type SigningKeyFiles,
} from "../../pipeline-lib/src/test-support/signing-key.js";
import {
  buildAndPush,
  clusterWithRegistry,
  evidenceStore,
  fixtureProvenance,
  ROOT,
} from "../support/deploy-fixture.js";
import { snapshotRepository } from "../support/snapshot-repository.js";

/**
 * The production half as a maintainer meets it, on the testbed with a real
 * registry: develop builds, tests, signs, deploys to test and verifies there;
 * master merges develop with a merge commit and `pipeline run prod` ships that
 * same digest through the evidence gate, from the first production release on.
 * Then everything the gate must refuse, each time with production untouched.
 */
describe("signed evidence and the production gate, through `pipeline run` on the testbed @slow", function () {
  this.timeout(900_000);
  const suffix = randomBytes(3).toString("hex");
  const namespaces = { test: `gate-test-${suffix}`, production: `gate-prod-${suffix}` };
  let cluster: Cluster;
  let registry: TestRegistry;
  let work: string;
  let repo: string;
  let key: SigningKeyFiles;
  let env: NodeJS.ProcessEnv;
  let shipped: {
    digest: string;
    imageRef: string;
    gitCommit: string;
    repository: string;
    tags: string[];
  };

  const pipeline = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<ProcessRun> =>
    runPipelineBin(args, { env: { ...env, ...extra }, cwd: repo });
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
      cwd: repo,
      encoding: "utf8",
    }).trim();
  const ok = (run: ProcessRun, what: string) =>
    expect(run.code, `${what}\n${run.stderr}\n${run.stdout}`).to.equal(0);
  const productionDeployment = async () =>
    cluster.kubeConfig
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDeployment({ name: "visit-counter", namespace: namespaces.production });

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "pipeline-gate-"));
    const prepared = await clusterWithRegistry(work);
    cluster = prepared.cluster;
    registry = prepared.registry;
    await cluster.loadImage(process.env.REDIS_IMAGE ?? "redis:7-bookworm");
    repo = await snapshotRepository(work);
    // `pipeline run` calls `npx --no-install pipeline`, as Jenkins does after `npm ci`.
    await symlink(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"));
    key = await makeSigningKey(path.join(work, "keys"));
    env = {
      ...process.env,
      IMAGE_REPOSITORY: registry.repository("visit-counter"),
      REGISTRY_AUTH: "basic",
      REGISTRY_USERNAME: registry.username,
      REGISTRY_PASSWORD: registry.password,
      KUBECONFIG: prepared.kubeconfigFile,
      TEST_NAMESPACE: namespaces.test,
      TEST_STORAGE_CLASS: "standard",
      PRODUCTION_NAMESPACE: namespaces.production,
      PRODUCTION_KUBE_CONTEXT: cluster.kubeConfig.getCurrentContext(),
      // The testbed has no gp3; a local production run names what it has.
      PRODUCTION_STORAGE_CLASS: "standard",
      // The gate is the subject here; the config's canary (two steps of two
      // minutes each) has its own test, test/deploy/canary.test.ts.
      PRODUCTION_STRATEGY: "rolling",
      TESTCONTAINERS_RYUK_DISABLED: "true",
      ...key.env,
    };
    for (const name of ["GIT_COMMIT", "BRANCH_NAME", "BUILD_NUMBER", "BUILD_URL", "JOB_URL"]) {
      delete env[name];
    }
    // master starts where develop does; develop then gets a commit that does
    // not change the build inputs, so master's merge commit is a new commit
    // with the inputs develop verified.
    git("branch", "master");
    await writeFile(path.join(repo, "CHANGELOG.md"), "develop's change\n");
    git("add", "CHANGELOG.md");
    git("commit", "-q", "-m", "a change on develop");
  });

  after(async () => {
    const core = cluster?.kubeConfig.makeApiClient(k8s.CoreV1Api);
    for (const namespace of Object.values(namespaces)) {
      await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
    }
    await registry?.[Symbol.asyncDispose]();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("develop's digest, verified in test, ships to production after a --no-ff merge, and history shows why", async () => {
    const developCommit = git("rev-parse", "HEAD");
    const dev = await pipeline(["run", "dev", "--from", "build", "--branch", "develop"], {
      BRANCH_NAME: "develop",
      BUILD_NUMBER: "11",
      BUILD_URL: "https://jenkins.example.com/job/visit-counter/job/develop/11/",
      GIT_COMMIT: developCommit,
    });
    ok(dev, "pipeline run dev");
    expect(dev.stderr).to.include("signed verification summary stored beside");
    shipped = JSON.parse(await readFile(path.join(repo, "build.json"), "utf8")) as typeof shipped;

    git("checkout", "-q", "master");
    git("merge", "--no-ff", "-q", "-m", "Merge branch 'develop'", "develop");
    const mergeCommit = git("rev-parse", "HEAD");
    expect(mergeCommit).to.not.equal(developCommit);
    const prod = await pipeline(["run", "prod", "--from", "resolve", "--branch", "master"], {
      BRANCH_NAME: "master",
      BUILD_NUMBER: "5",
      BUILD_URL: "https://jenkins.example.com/job/visit-counter/job/master/5/",
      GIT_COMMIT: mergeCommit,
    });
    ok(prod, "pipeline run prod");
    const artifact = JSON.parse(await readFile(path.join(repo, "build.json"), "utf8")) as {
      reused: boolean;
      digest: string;
      imageCommit: string;
      gitCommit: string;
    };
    // The same digest, not rebuilt, and the test stages were not run again.
    expect(artifact).to.include({
      reused: true,
      digest: shipped.digest,
      imageCommit: developCommit,
    });
    expect(prod.stderr).to.include("not deploying it again");
    // The first release: the approval's history is an answer, not an error.
    expect(prod.stdout + prod.stderr).to.include("nothing deployed to production yet");
    // Verify production compared /version with the commit the image was built from.
    expect(prod.stderr).to.match(/contract checks passed against production/);

    const history = await pipeline(["--json", "history", "--env", "production"]);
    ok(history, "history");
    const revisions = (
      JSON.parse(history.stdout) as {
        revisions: { current: boolean; commit: string; imageCommit: string; evidence: string }[];
      }
    ).revisions;
    const current = revisions.find((r) => r.current)!;
    expect(current.commit, "the commit that deployed it").to.equal(mergeCommit);
    expect(current.imageCommit, "the commit that built it").to.equal(developCommit);
    expect(current.evidence).to.include("tests PASSED");
    expect(current.evidence).to.include(
      "verified in test by https://jenkins.example.com/job/visit-counter/job/develop/11/",
    );
    const text = await pipeline(["history", "--env", "production"]);
    expect(text.stdout).to.include(`image built from ${developCommit.slice(0, 12)}`);
    const shown = await pipeline(["evidence", "--image", shipped.imageRef]);
    ok(shown, "evidence");
    expect(shown.stdout).to.include("verified in production");
  });

  describe("refused, with production untouched", () => {
    let docker: Docker;
    let base: string;
    const store = () => evidenceStore(shipped.repository, env);
    const variant = async (name: string) =>
      buildAndPush(
        docker,
        `${registry.repository("visit-counter")}:${name}`,
        { username: registry.username, password: registry.password, serveraddress: registry.host },
        [`FROM ${base}`, `LABEL dev.pipeline-lib.test-variant=${name}`],
      );
    const facts = (digest: string) => {
      const now = new Date().toISOString();
      return {
        provenance: fixtureProvenance(shipped.repository, digest, shipped.gitCommit, {
          builderId: "https://jenkins.example.com/job/visit-counter/",
          sourceUrl: "https://github.com/example/pipeline-lib",
        }),
        tests: testResultPredicate({
          checks: [{ name: "GET / serves the page", passed: true, durationMs: 5 }],
          buildUrl: undefined,
          imageId: undefined,
          finishedAt: now,
        }),
        verification: verificationPredicate({
          repository: shipped.repository,
          digest,
          verifierId: "https://jenkins.example.com/job/visit-counter/",
          environment: "test",
          namespace: namespaces.test,
          checks: [{ name: "GET / serves the page", passed: true, durationMs: 5 }],
          buildUrl: undefined,
          verifiedAt: now,
        }),
      };
    };
    const all = (digest: string) =>
      Object.entries(facts(digest)).map(([kind, predicate]) => ({
        kind: kind as "provenance" | "tests" | "verification",
        predicate,
      }));

    let untouched: { image: string | undefined; deployedAt: string | undefined };
    const refused = async (image: string, expected: RegExp) => {
      const run = await pipeline(["deploy", "--env", "production", "--image", image]);
      expect(run.code, run.stderr).to.equal(1);
      const message = run.stderr.trim().split("\n").at(-1)!;
      process.stderr.write(`      [refused, exit ${run.code}] ${message}\n`);
      expect(message).to.match(
        /^pipeline: refusing to deploy to production; nothing was applied: /,
      );
      expect(message).to.match(expected);
      const dry = await pipeline(["deploy", "--env", "production", "--dry-run", "--image", image]);
      expect(dry.code, "a dry run reports the same refusal").to.equal(1);
      expect(dry.stderr).to.match(expected);
      const now = await productionDeployment();
      expect({
        image: now.spec?.template.spec?.containers[0]?.image,
        deployedAt: now.metadata?.annotations?.["pipeline-lib.dev/deployed-at"],
      }).to.deep.equal(untouched);
      return message;
    };

    before(async () => {
      if (!shipped) throw new Error("develop's release did not ship; the refusals need it");
      docker = new Docker();
      // The image develop built is still in the engine under its content tag.
      base = `${shipped.repository}:${shipped.tags[0]}`;
      const deployment = await productionDeployment();
      untouched = {
        image: deployment.spec?.template.spec?.containers[0]?.image,
        deployedAt: deployment.metadata?.annotations?.["pipeline-lib.dev/deployed-at"],
      };
    });

    it("an image with no evidence at all", async () => {
      const image = await variant("bare");
      const message = await refused(
        image,
        /lacks what production requires: signed build provenance/,
      );
      expect(message).to.include("pipeline verify --env test");
    });

    it("an image with provenance only (a pull request's, or one never verified)", async () => {
      const image = await variant("provenance-only");
      const digest = image.slice(image.indexOf("@") + 1);
      await recordEvidence(
        store(),
        digest,
        [{ kind: "provenance", predicate: facts(digest).provenance }],
        await keyFileSigner(key.privateKeyFile),
      );
      await refused(image, /signed test results.*a passed verification in test/);
    });

    it("evidence signed by a key the config does not trust", async () => {
      const image = await variant("untrusted");
      const digest = image.slice(image.indexOf("@") + 1);
      const stranger = await makeSigningKey(path.join(work, "stranger"));
      await recordEvidence(
        store(),
        digest,
        all(digest),
        await keyFileSigner(stranger.privateKeyFile),
      );
      await refused(
        image,
        /not accepted: .*signed by key [0-9a-f]{64}, which the config does not trust/,
      );
    });

    it("a tampered payload", async () => {
      const image = await variant("tampered");
      const digest = image.slice(image.indexOf("@") + 1);
      const repository = store();
      await recordEvidence(
        repository,
        digest,
        all(digest),
        await keyFileSigner(key.privateKeyFile),
      );
      // Someone with push rights adds a check to the passed ones, keeping the
      // signature, in every manifest that holds the statement.
      const prefix = attestationTag(digest);
      const tags = (await repository.listTags()).filter((t) => t.startsWith(prefix));
      expect(tags.length, "the .att tag and one tag per statement").to.be.greaterThan(3);
      for (const tag of tags) {
        const manifest = await repository.getManifest(tag);
        const parsed = JSON.parse(Buffer.from(manifest!.bytes).toString()) as {
          layers: { digest: string; size: number; annotations: Record<string, string> }[];
        };
        const layer = parsed.layers.find((l) =>
          l.annotations.predicateType?.includes("test-result"),
        );
        if (!layer) continue;
        const envelope = JSON.parse(
          Buffer.from(await repository.getBlob(layer.digest)).toString(),
        ) as { payload: string };
        const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString()) as {
          predicate: { passedTests: string[] };
        };
        statement.predicate.passedTests.push("a check that never ran");
        envelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
        const bytes = Buffer.from(JSON.stringify(envelope));
        layer.digest = await repository.pushBlob(bytes);
        layer.size = bytes.length;
        await repository.putManifest(
          tag,
          Buffer.from(JSON.stringify(parsed)),
          "application/vnd.oci.image.manifest.v1+json",
        );
      }
      await refused(
        image,
        /signed test results.*not accepted: tests: the signature does not match the payload/,
      );
    });

    it("evidence about another digest", async () => {
      const image = await variant("borrowed");
      const digest = image.slice(image.indexOf("@") + 1);
      const repository = store();
      // The verified image's evidence, copied under this image's tag.
      const theirs = await repository.getManifest(attestationTag(shipped.digest));
      await repository.putManifest(attestationTag(digest), theirs!.bytes, theirs!.mediaType);
      await refused(image, new RegExp(`it is about ${shipped.digest}, not ${digest}`));
    });
  });

  describe("a hotfix merged straight into master", () => {
    it("inputs develop never verified: prod builds, tests, signs, deploys to test and verifies there before the approval, then ships", async () => {
      if (!shipped) throw new Error("develop's release did not ship; the hotfix builds on it");
      git("checkout", "-q", "master");
      const server = path.join(repo, "service/src/server.ts");
      await writeFile(server, `${await readFile(server, "utf8")}\n// hotfix\n`);
      git("commit", "-q", "-am", "hotfix on master");
      const hotfix = git("rev-parse", "HEAD");
      const buildUrl = "https://jenkins.example.com/job/visit-counter/job/master/6/";
      const prod = await pipeline(["run", "prod", "--from", "resolve", "--branch", "master"], {
        BRANCH_NAME: "master",
        BUILD_NUMBER: "6",
        BUILD_URL: buildUrl,
        GIT_COMMIT: hotfix,
      });
      ok(prod, "pipeline run prod (hotfix)");
      const artifact = JSON.parse(await readFile(path.join(repo, "build.json"), "utf8")) as {
        reused: boolean;
        digest: string;
      };
      expect(artifact.reused, "nothing verified had these inputs: built here").to.equal(false);
      expect(artifact.digest).to.not.equal(shipped.digest);
      expect(prod.stderr).to.match(/Step 1\//);
      // Before the approval: tested, signed, deployed to test and verified there.
      const order = [
        "signed provenance, sbom, tests",
        "to test (namespace",
        "signed verification summary",
      ];
      const at = order.map((line) => (prod.stdout + prod.stderr).indexOf(line));
      expect(
        at.every((i) => i >= 0),
        at.join(","),
      ).to.equal(true);
      const history = await pipeline(["--json", "history", "--env", "production"]);
      const current = (
        JSON.parse(history.stdout) as {
          revisions: { current: boolean; commit: string; digest: string; evidence: string }[];
        }
      ).revisions.find((r) => r.current)!;
      expect(current.commit).to.equal(hotfix);
      expect(current.digest).to.equal(artifact.digest);
      expect(current.evidence).to.include(`verified in test by ${buildUrl}`);
    });
  });
});
