import { spawn } from "node:child_process";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { DeployFixture, RequestLoop, ROOT, type Run } from "../support/deploy-fixture.js";

const json = <T>(run: Run): T => JSON.parse(run.stdout) as T;
const ok = (run: Run) => expect(run.code, `exit ${run.code}\n${run.stderr}`).to.equal(0);

interface HistoryJson {
  revisions: {
    revision: number;
    current: boolean;
    digest?: string;
    commit?: string;
    triggeredBy?: string;
  }[];
}

/**
 * The second half of the pipeline on a real cluster (the testbed unless
 * KUBECONFIG / PIPELINE_KUBE_CONTEXT name one): deploy, verify, roll back and
 * record releases, through the shipped bin, with the pods pulling the pushed
 * images by digest from a real registry.
 */
describe("pipeline deploy | verify | rollback | history, on a real cluster @slow", function () {
  this.timeout(900_000);
  let fixture: DeployFixture;
  const namespace = `deploy-${randomBytes(3).toString("hex")}`;
  let project: string;

  before(async function () {
    this.timeout(1_800_000);
    fixture = await DeployFixture.create((line) =>
      process.stderr.write(`      [fixture] ${line}\n`),
    );
    project = await fixture.project(namespace);
  });
  after(async () => {
    if (!fixture) return;
    await fixture.deleteNamespace(namespace);
    await fixture[Symbol.asyncDispose]();
  });

  const deploy = (image: string, ...extra: string[]) =>
    fixture.run(["--json", "deploy", "--env", "test", "--image", image, ...extra], project, {
      GIT_COMMIT: commitOf(image),
    });
  const commitOf = (image: string) =>
    Object.values(fixture.images).find((i) => i.ref === image)?.commit ?? "";
  const history = async () => {
    const run = await fixture.run(["--json", "history", "--env", "test"], project);
    ok(run);
    return json<HistoryJson>(run).revisions;
  };
  // Once /readyz answers through the NodePort: kube-proxy programs it a moment after a deploy.
  const visitorUrl = async () => `${await fixture.visitorBase(namespace)}/api/visits`;

  it("deploys a first release, verifies it, and says there was nothing before it", async () => {
    const run = await deploy(fixture.images.v1.ref);
    ok(run);
    expect(json<{ revision: number; previousRevision?: number }>(run)).to.include({ revision: 1 });
    expect(run.stderr).to.match(/server-side dry run/);
    expect(run.stderr).to.match(/first deploy/);
    expect(run.stderr, "the data store is awaited and reported with the release").to.match(
      /StatefulSet deploy-\w+\/redis: rolled out: 1\/1 updated, 1 ready/,
    );
    expect(run.stderr, "progress names replicas and what it waits on").to.match(
      /\d+\/2 updated, \d+ ready, \d+ available/,
    );

    const verify = await fixture.run(["verify", "--env", "test"], project);
    ok(verify);
    expect(verify.stdout).to.match(/contract checks passed against test/);
    expect(verify.stdout).to.include(`commit ${fixture.images.v1.commit.slice(0, 12)}`);
  });

  it("verifies 20 times in a row while visitors count through the NodePort: 20 of 20 pass", async () => {
    // Production's verify runs under live traffic, and a failed verify rolls
    // production back: the counting checks must not mistake a visitor for a bug.
    const loop = new RequestLoop(`${await fixture.visitorBase(namespace)}/`, { intervalMs: 10 });
    const codes: (number | null)[] = [];
    const failures: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const run = await fixture.run(["verify", "--env", "test", "--no-rollback"], project, {
          PIPELINE_SIGNING_KEY: "",
        });
        codes.push(run.code);
        if (run.code !== 0) failures.push(run.stderr.trim().split("\n").slice(-4).join("\n"));
      }
    } finally {
      await loop.stop();
    }
    expect(failures, failures.join("\n---\n")).to.deep.equal([]);
    expect(codes.filter((c) => c === 0)).to.have.length(20);
    expect(loop.failures).to.deep.equal([]);
    expect(loop.ok, "the visitors really were counting meanwhile").to.be.greaterThan(100);
  });

  it("rolls out a new version with zero failed requests, and history shows both", async () => {
    const loop = new RequestLoop(await visitorUrl());
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const run = await deploy(fixture.images.next.ref);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await loop.stop();
    ok(run);
    expect(loop.ok).to.be.greaterThan(50);
    expect(loop.failures, "requests that failed during the rolling update").to.deep.equal([]);

    ok(await fixture.run(["verify", "--env", "test"], project));
    const revisions = await history();
    expect(revisions.map((r) => [r.revision, r.current, r.commit])).to.deep.equal([
      [1, false, fixture.images.v1.commit],
      [2, true, fixture.images.next.commit],
    ]);
    expect(revisions[1]!.digest).to.equal(fixture.images.next.ref.split("@")[1]);
    expect(revisions[1]!.triggeredBy).to.equal("deploy-test");
  });

  it("fails fast on a crashing release, rolls back, and the previous one serves throughout", async () => {
    const loop = new RequestLoop(await visitorUrl());
    const run = await deploy(fixture.images.crash.ref);
    await loop.stop();
    expect(run.code, run.stderr).to.equal(1);
    // Well inside the 120 s rollout deadline.
    expect(run.ms).to.be.lessThan(90_000);
    expect(run.stderr).to.match(/CrashLoopBackOff/);
    expect(run.stderr, "the report names the pod").to.match(
      /pod visit-counter-[a-z0-9]+-[a-z0-9]+/,
    );
    expect(run.stderr, "and its last log lines").to.include(
      "fatal: cannot load settings from the cluster",
    );
    expect(run.stderr).to.match(
      /rolled back .* from revision 3 to \d+, which is healthy and serving/,
    );
    expect(loop.failures, "visitors never saw the failed release").to.deep.equal([]);
    expect(loop.ok).to.be.greaterThan(10);

    const current = (await history()).find((r) => r.current)!;
    expect(current.commit).to.equal(fixture.images.next.commit);
  });

  it("rolls back when a release gets ready but fails its contract checks", async () => {
    ok(await deploy(fixture.images.wrongCommit.ref));
    const verify = await fixture.run(["verify", "--env", "test"], project);
    expect(verify.code, verify.stderr).to.equal(1);
    expect(verify.stderr).to.match(
      /\/version reports commit 0000000000000000000000000000000000000000, expected 3333/,
    );
    expect(verify.stderr).to.match(/rolled back .* which is healthy and serving/);
    const current = (await history()).find((r) => r.current)!;
    expect(current.commit).to.equal(fixture.images.next.commit);
    ok(await fixture.run(["verify", "--env", "test"], project));
  });

  it("rolls back on request, to the previous revision or a named one, and history follows", async () => {
    const before = await history();
    const v1 = before.find((r) => r.commit === fixture.images.v1.commit)!;
    const run = await fixture.run(
      ["--json", "rollback", "--env", "test", "--to-revision", String(v1.revision)],
      project,
    );
    ok(run);
    const after = await history();
    const current = after.find((r) => r.current)!;
    expect(current.commit).to.equal(fixture.images.v1.commit);
    expect(current.revision).to.be.greaterThan(Math.max(...before.map((r) => r.revision)));
    ok(await fixture.run(["verify", "--env", "test"], project));

    // And back to where it was: the previous revision by default.
    ok(await fixture.run(["rollback", "--env", "test"], project));
    expect((await history()).find((r) => r.current)!.commit).to.equal(fixture.images.next.commit);
  });

  it("lets one deploy at a time into a namespace: the second waits, or fails naming the holder", async () => {
    // Another pipeline holds the namespace (as one on another agent would).
    const leases = fixture.cluster.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    await leases.createNamespacedLease({
      namespace,
      body: {
        metadata: { name: "pipeline-deploy-lock", namespace },
        spec: {
          holderIdentity: "other-pipeline (prod #12)",
          leaseDurationSeconds: 30,
          acquireTime: new k8s.V1MicroTime(),
          renewTime: new k8s.V1MicroTime(),
        },
      },
    });
    const impatient = await fixture.run(
      ["deploy", "--env", "test", "--image", fixture.images.v1.ref],
      await fixture.project(namespace, { lockTimeoutSeconds: 1, dirName: "impatient" }),
      { GIT_COMMIT: fixture.images.v1.commit },
    );
    expect(impatient.code, impatient.stderr).to.equal(1);
    expect(impatient.stderr).to.include("held by other-pipeline (prod #12)");
    expect(impatient.stderr, "it gave up before applying anything").to.not.match(/applying/);

    const patient = fixture.start(
      ["deploy", "--env", "test", "--image", fixture.images.v1.ref],
      project,
      { GIT_COMMIT: fixture.images.v1.commit },
    );
    await until(
      () => /waiting for the deploy lock/.test(patient.output()),
      60_000,
      "the patient deploy to wait for the lock",
    );
    await leases.deleteNamespacedLease({ name: "pipeline-deploy-lock", namespace });
    ok(await patient.done);

    // Two real deploys at once: both succeed, one after the other.
    const a = fixture.start(
      ["deploy", "--env", "test", "--image", fixture.images.next.ref],
      project,
      {
        GIT_COMMIT: fixture.images.next.commit,
        PIPELINE_TRIGGERED_BY: "deployer-a",
      },
    );
    const b = fixture.start(
      ["deploy", "--env", "test", "--image", fixture.images.next.ref],
      project,
      {
        GIT_COMMIT: fixture.images.next.commit,
        PIPELINE_TRIGGERED_BY: "deployer-b",
      },
    );
    const [runA, runB] = await Promise.all([a.done, b.done]);
    ok(runA);
    ok(runB);
    const waited = [runA, runB].filter((r) => /waiting for the deploy lock/.test(r.stderr));
    expect(waited.length, "exactly one of them waited for the other").to.equal(1);
    expect(waited[0]!.stderr).to.match(/held by deployer-[ab]/);
    expect((await history()).find((r) => r.current)!.commit).to.equal(fixture.images.next.commit);
  });

  it("on SIGTERM rolls back, releases the lock, leaves the environment healthy; a rerun succeeds", async () => {
    const started = fixture.start(
      ["deploy", "--env", "test", "--image", fixture.images.v1.ref],
      project,
      { GIT_COMMIT: fixture.images.v1.commit },
    );
    await until(() => /applying \d+ objects/.test(started.output()), 60_000, "the deploy to apply");
    started.child.kill("SIGTERM");
    const run = await started.done;
    expect(run.code, run.stderr).to.equal(130);
    expect(run.stderr).to.match(/interrupted/);
    const lease = await fixture.cluster.kubeConfig
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: "pipeline-deploy-lock", namespace })
      .catch(() => undefined);
    expect(lease?.spec?.holderIdentity ?? "", "the lease is released").to.equal("");
    ok(await fixture.run(["verify", "--env", "test"], project));
    expect((await history()).find((r) => r.current)!.commit).to.equal(fixture.images.next.commit);

    ok(await deploy(fixture.images.v1.ref));
    expect((await history()).find((r) => r.current)!.commit).to.equal(fixture.images.v1.commit);
  });

  it("killed with SIGKILL mid-rollout (the whole process group of npx): the next deploy repairs, then succeeds, and history shows both", async () => {
    const servedBefore = (await history()).find((r) => r.current)!;
    expect(servedBefore.commit).to.equal(fixture.images.v1.commit);
    // As Jenkins runs it, and as its abort ends it when the grace runs out:
    // no handler runs, no rollback, no lock released.
    const child = spawn(
      "npx",
      [
        "--no-install",
        "pipeline",
        "--config",
        path.join(project, "pipeline.config.yaml"),
        "deploy",
        "--env",
        "test",
        "--image",
        fixture.images.crash.ref,
      ],
      {
        cwd: ROOT,
        env: { ...fixture.env, GIT_COMMIT: fixture.images.crash.commit },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const closed = new Promise((resolve) => child.on("close", resolve));
    await until(() => /\d+\/2 updated/.test(output), 90_000, "the crashing rollout to start");
    process.kill(-child.pid!, "SIGKILL");
    const killedAt = performance.now();
    await closed;
    const left = await fixture
      .apps()
      .readNamespacedDeployment({ name: "visit-counter", namespace });
    expect(
      left.metadata?.annotations?.["pipeline-lib.dev/deploy-in-progress"],
      "the killed deploy's journal stays for the next run",
    ).to.include(fixture.images.crash.ref);

    const next = await deploy(fixture.images.next.ref);
    const recoveryMs = performance.now() - killedAt;
    process.stderr.write(
      `      [recovery] SIGKILL → next deploy done (repair included) in ${(recoveryMs / 1000).toFixed(1)} s\n`,
    );
    ok(next);
    expect(next.stderr).to.match(/never finished \(its process was killed or lost\)/);
    expect(next.stderr).to.match(
      /repaired: rolled .* back from revision \d+ to \d+ \(.*\), which is healthy/,
    );
    const after = await history();
    expect(after.find((r) => r.current)!.commit).to.equal(fixture.images.next.commit);
    expect(
      after.some((r) => r.commit === fixture.images.crash.commit),
      "the killed release's revision is in the history",
    ).to.equal(true);
    const cleared = await fixture
      .apps()
      .readNamespacedDeployment({ name: "visit-counter", namespace });
    expect(cleared.metadata?.annotations?.["pipeline-lib.dev/deploy-in-progress"]).to.equal(
      undefined,
    );
  });

  it("a replay of the release that serves, failing its verify, does not put an older release back", async () => {
    // wrongCommit gets ready but fails its contract; it stays (--no-rollback).
    ok(await deploy(fixture.images.wrongCommit.ref));
    const kept = await fixture.run(["verify", "--env", "test", "--no-rollback"], project);
    expect(kept.code).to.equal(1);
    const serving = (await history()).find((r) => r.current)!;
    expect(serving.commit).to.equal(fixture.images.wrongCommit.commit);
    // Jenkins replays that deploy: the same digest, no new revision.
    ok(await deploy(fixture.images.wrongCommit.ref));
    expect((await history()).find((r) => r.current)!.revision).to.equal(serving.revision);
    // Its verify fails again: the release before it must not come back.
    const verify = await fixture.run(["verify", "--env", "test"], project);
    expect(verify.code, verify.stderr).to.equal(1);
    expect(verify.stderr).to.include(
      `nothing rolled back: revision ${serving.revision} served before this deploy and is the one that failed`,
    );
    expect((await history()).find((r) => r.current)!.revision).to.equal(serving.revision);
    ok(await deploy(fixture.images.next.ref));
  });

  it("verify checks this build: when another release serves, it verifies nothing and rolls nothing back", async () => {
    const serving = (await history()).find((r) => r.current)!;
    expect(serving.commit).to.equal(fixture.images.next.commit);
    // This run's build.json records v1; someone else's deploy (next) serves now.
    const digest = fixture.images.v1.ref.slice(fixture.images.v1.ref.indexOf("@") + 1);
    const artifact = {
      schemaVersion: 1,
      app: "visit-counter",
      repository: fixture.images.v1.ref.slice(0, fixture.images.v1.ref.indexOf("@")),
      treeHash: "0".repeat(40),
      tags: ["tree-0"],
      builtAt: new Date().toISOString(),
      reused: false,
      digest,
      imageRef: fixture.images.v1.ref,
    };
    await writeFile(path.join(project, "build.json"), JSON.stringify(artifact));
    try {
      const verify = await fixture.run(["verify", "--env", "test"], project);
      expect(verify.code, verify.stderr).to.equal(1);
      expect(verify.stderr).to.include(
        `serves ${fixture.images.next.ref}, not ${fixture.images.v1.ref}`,
      );
      expect(verify.stderr).to.match(/verifies nothing and rolls nothing back/);
      expect((await history()).find((r) => r.current)!.revision).to.equal(serving.revision);
    } finally {
      await rm(path.join(project, "build.json"), { force: true });
    }
  });

  describe("the app's objects as an ApplySet: autoscaling handed over, removed objects pruned", () => {
    const ns = `${namespace}-set`;
    after(async () => fixture.deleteNamespace(ns));
    const deployTo = (dir: string) =>
      fixture.run(
        ["--json", "deploy", "--env", "production", "--image", fixture.images.v1.ref],
        dir,
        {
          GIT_COMMIT: fixture.images.v1.commit,
        },
      );
    const replicas = async () =>
      (await fixture.apps().readNamespacedDeployment({ name: "visit-counter", namespace: ns })).spec
        ?.replicas;
    const hpa = () =>
      fixture.cluster.kubeConfig
        .makeApiClient(k8s.AutoscalingV2Api)
        .readNamespacedHorizontalPodAutoscaler({ name: "visit-counter", namespace: ns })
        .then(
          () => true,
          () => false,
        );

    it("turning autoscaling on keeps the live replicas (not 1); turning it off removes the HPA", async () => {
      const fixed = await fixture.project(ns, {
        dirName: "set-fixed",
        production: { namespace: ns },
      });
      const scaled = await fixture.project(ns, {
        dirName: "set-scaled",
        production: { namespace: ns, autoscaling: { minReplicas: 1, maxReplicas: 5 } },
      });
      ok(await deployTo(fixed));
      expect(await replicas()).to.equal(2);
      expect(await hpa()).to.equal(false);

      const on = await deployTo(scaled);
      ok(on);
      expect(on.stderr).to.include("handed to the autoscaler, not reset to 1");
      expect(await replicas(), "the rollout kept both pods").to.equal(2);
      expect(await hpa()).to.equal(true);

      const off = await deployTo(fixed);
      ok(off);
      expect(json<{ pruned: string[] }>(off).pruned).to.deep.equal([
        `HorizontalPodAutoscaler ${ns}/visit-counter`,
      ]);
      expect(await hpa(), "no orphaned autoscaler").to.equal(false);
      expect(await replicas()).to.equal(2);
    });

    it("deletes what left the manifests, and nothing that was never part of the set", async () => {
      const extra = path.join(fixture.work, "manifests-with-extra");
      await cp(path.join(ROOT, "k8s"), extra, { recursive: true });
      await rm(path.join(extra, "access"), { recursive: true, force: true });
      await writeFile(
        path.join(extra, "extra.yaml"),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-flags\ndata:\n  beta: "on"\n',
      );
      const withExtra = await fixture.project(ns, {
        dirName: "set-extra",
        manifests: extra,
        production: { namespace: ns },
      });
      const plain = await fixture.project(ns, {
        dirName: "set-plain",
        production: { namespace: ns },
      });
      await fixture.core().createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: "someone-elses" }, data: { keep: "me" } },
      });
      ok(await deployTo(withExtra));
      await fixture.core().readNamespacedConfigMap({ name: "feature-flags", namespace: ns });

      const removed = await deployTo(plain);
      ok(removed);
      expect(json<{ pruned: string[] }>(removed).pruned).to.deep.equal([
        `ConfigMap ${ns}/feature-flags`,
      ]);
      const gone = await fixture
        .core()
        .readNamespacedConfigMap({ name: "feature-flags", namespace: ns })
        .then(
          () => false,
          () => true,
        );
      expect(gone).to.equal(true);
      await fixture.core().readNamespacedConfigMap({ name: "someone-elses", namespace: ns });
    });
  });

  describe("bad input: a clear error, exit 2, and nothing applied", () => {
    const untouched = `deploy-bad-${randomBytes(3).toString("hex")}`;
    let badProject: string;
    before(async () => {
      badProject = await fixture.project(untouched);
    });
    after(async () => {
      await fixture.deleteNamespace(untouched);
    });
    const expectNothingApplied = async () => {
      const namespaces = await fixture.core().listNamespace();
      expect(namespaces.items.map((n) => n.metadata?.name)).to.not.include(untouched);
    };
    const cases: {
      what: string;
      args: () => string[];
      env?: () => NodeJS.ProcessEnv;
      message: RegExp;
    }[] = [
      {
        what: "an unknown environment",
        args: () => ["deploy", "--env", "staging", "--image", fixture.images.v1.ref],
        message: /unknown environment "staging": .* defines test; use --env test/,
      },
      {
        what: "a missing kubeconfig",
        args: () => ["deploy", "--env", "test", "--image", fixture.images.v1.ref],
        env: () => ({ KUBECONFIG: "/nonexistent/kubeconfig" }),
        message: /kubeconfig/,
      },
      {
        what: "an unreachable API server",
        args: () => [
          "deploy",
          "--env",
          "test",
          "--image",
          fixture.images.v1.ref,
          "--kubeconfig",
          "KUBECONFIG_DEAD",
        ],
        message: /127\.0\.0\.1:1/,
      },
      {
        what: "an image reference without a digest",
        args: () => [
          "deploy",
          "--env",
          "test",
          "--image",
          fixture.images.v1.ref.replace(/@.*/, ":latest"),
        ],
        message: /is not an image by digest/,
      },
      {
        what: "a manifest that the API server rejects",
        args: () => [
          "deploy",
          "--env",
          "test",
          "--image",
          fixture.images.v1.ref,
          "--config",
          "BROKEN",
        ],
        message:
          /the API server rejects the rendered manifests for test; nothing was applied: .*Service/s,
      },
    ];
    for (const { what, args, env, message } of cases) {
      it(what, async () => {
        const dead = path.join(badProject, "dead.kubeconfig");
        await writeFile(
          dead,
          (await readFile(fixture.kubeconfigFile, "utf8"))
            .replace(/"server":\s*"[^"]*"/g, '"server":"https://127.0.0.1:1"')
            .replace(/server: .*/g, "server: https://127.0.0.1:1"),
        );
        const broken = await brokenManifestsProject(fixture, untouched, badProject);
        const argv = args().map((a) =>
          a === "KUBECONFIG_DEAD" ? dead : a === "BROKEN" ? broken : a,
        );
        const run = await fixture.run(argv, badProject, env?.() ?? {});
        expect(run.code, run.stderr).to.equal(2);
        expect(run.stderr).to.match(message);
        expect(run.stderr, "no stack trace").to.not.match(/\n\s+at .*\(.*:\d+:\d+\)/);
        await expectNothingApplied();
      });
    }
  });
});

/** A copy of the manifests with a Service port that no API server accepts. */
async function brokenManifestsProject(
  fixture: DeployFixture,
  namespace: string,
  dir: string,
): Promise<string> {
  const manifests = path.join(dir, "broken-k8s");
  await rm(manifests, { recursive: true, force: true });
  await cp(path.join(ROOT, "k8s"), manifests, { recursive: true });
  const file = path.join(manifests, "visit-counter.yaml");
  await writeFile(
    file,
    (await readFile(file, "utf8")).replace("      port: 80\n", "      port: 99999\n"),
  );
  const config = path.join(dir, "broken.yaml");
  await writeFile(
    config,
    (await readFile(path.join(dir, "pipeline.config.yaml"), "utf8")).replace(
      /manifests: .*/,
      `manifests: ${manifests}`,
    ),
  );
  void fixture;
  void namespace;
  return config;
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
