import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { ExitCode } from "../../pipeline-lib/src/errors.js";
import {
  acquireDeployLock,
  DEPLOY_LOCK_NAME,
  deployLockHolder,
  LockHeld,
  LockLost,
  type AcquireDeployLockOptions,
} from "../../pipeline-lib/src/kube/deploy-lock.js";
import { MemoryReporter } from "../../pipeline-lib/src/output/reporter.js";
import { rejection } from "../support/rejection.js";
import { createTestNamespace, deleteNamespace, kubeTestCluster } from "./kube-test-support.js";

describe("kube deploy lock: one deploy per namespace at a time @slow", function () {
  this.timeout(30_000);
  let kubeConfig: k8s.KubeConfig;
  let leases: k8s.CoordinationV1Api;
  let namespace = "";

  before(async function () {
    this.timeout(60 * 60_000);
    kubeConfig = (await kubeTestCluster()).kubeConfig;
    leases = kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    namespace = await createTestNamespace(kubeConfig, "kube-lock");
  });

  after(async function () {
    await deleteNamespace(kubeConfig, namespace);
  });

  function acquire(holder: string, options: Partial<AcquireDeployLockOptions> = {}) {
    const reporter = new MemoryReporter();
    const lock = acquireDeployLock(kubeConfig, {
      namespace,
      holder,
      leaseSeconds: 3,
      waitMs: 0,
      pollMs: 250,
      reporter,
      ...options,
    });
    return { lock, reporter };
  }

  async function lease(): Promise<k8s.V1Lease | undefined> {
    return leases.readNamespacedLease({ namespace, name: DEPLOY_LOCK_NAME }).catch(() => undefined);
  }

  it("a second pipeline waits, saying who holds the lock, then gives up naming the holder", async function () {
    await using first = await acquire("jenkins https://ci/job/app/41/").lock;
    expect((await lease())?.spec?.holderIdentity).to.equal("jenkins https://ci/job/app/41/");
    const { lock, reporter } = acquire("jenkins https://ci/job/app/42/", { waitMs: 4500 });
    const error = await rejection(lock);
    expect(error).to.be.instanceOf(LockHeld);
    expect((error as LockHeld).exitCode).to.equal(ExitCode.StageFailed);
    expect(error.message).to.match(
      new RegExp(
        `^another deploy to namespace ${namespace} is running: the deploy lock \\(Lease ${namespace}/pipeline-deploy-lock\\) ` +
          `is held by jenkins https://ci/job/app/41/ since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z; gave up after waiting [45]s`,
      ),
    );
    expect(reporter.lines[0]).to.match(
      new RegExp(
        `^waiting for the deploy lock of namespace ${namespace}: held by jenkins https://ci/job/app/41/ since .*; giving up in 5s$`,
      ),
    );
    // 4.5 s is longer than the 3 s lease: the holder renewed it meanwhile.
    first.assertHeld();
  });

  it("release frees it for the next pipeline at once", async function () {
    const first = await acquire("pipeline A").lock;
    const { lock: second, reporter } = acquire("pipeline B", { waitMs: 10_000 });
    await sleep(600);
    await first.release();
    await using held = await second;
    expect(held.holder).to.equal("pipeline B");
    expect(reporter.lines.join("\n")).to.contain("held by pipeline A");
    expect((await lease())?.spec?.holderIdentity).to.equal("pipeline B");
    await first.release(); // twice is fine
  });

  it("disposing the lock deletes the Lease", async function () {
    {
      await using _held = await acquire("pipeline C").lock;
      expect((await lease())?.spec?.holderIdentity).to.equal("pipeline C");
    }
    expect(await lease()).to.equal(undefined);
  });

  it("takes over a lease its holder stopped renewing, and says so", async function () {
    const longAgo = new Date(Date.now() - 120_000).toISOString().replace("Z", "000Z");
    await leases.createNamespacedLease({
      namespace,
      body: {
        metadata: { name: DEPLOY_LOCK_NAME },
        spec: {
          holderIdentity: "jenkins https://ci/job/app/40/ (crashed)",
          leaseDurationSeconds: 30,
          // MicroTime needs six fractional digits; client-node passes strings through.
          acquireTime: longAgo as unknown as Date,
          renewTime: longAgo as unknown as Date,
        },
      },
    });
    const { lock, reporter } = acquire("pipeline D");
    await using held = await lock;
    expect(held.holder).to.equal("pipeline D");
    expect(reporter.lines).to.have.length(1);
    expect(reporter.lines[0]).to.match(
      new RegExp(
        `^warning: taking over the stale deploy lock of namespace ${namespace}: jenkins https://ci/job/app/40/ \\(crashed\\) ` +
          `took it at .* and last renewed it .*, more than its 30s lease ago$`,
      ),
    );
    const taken = await lease();
    expect(taken?.spec?.holderIdentity).to.equal("pipeline D");
    expect(taken?.spec?.leaseTransitions).to.equal(1);
  });

  it("a lock someone else took over is lost: its signal aborts and assertHeld throws", async function () {
    const held = await acquire("pipeline E").lock;
    const current = (await lease())!;
    await leases.replaceNamespacedLease({
      namespace,
      name: DEPLOY_LOCK_NAME,
      body: { ...current, spec: { ...current.spec, holderIdentity: "an operator" } },
    });
    // Renewal runs every leaseSeconds / 3 = 1 s.
    await new Promise((resolve) => held.lost.addEventListener("abort", resolve, { once: true }));
    expect(held.lost.reason).to.be.instanceOf(LockLost);
    expect(() => held.assertHeld()).to.throw(
      LockLost,
      `lost the deploy lock of namespace ${namespace}: an operator holds it now`,
    );
    await held.release();
    // Releasing a lost lock leaves the new holder's Lease alone.
    expect((await lease())?.spec?.holderIdentity).to.equal("an operator");
    await leases.deleteNamespacedLease({ namespace, name: DEPLOY_LOCK_NAME });
  });

  it("names the Jenkins build, else the user, host and process", function () {
    expect(deployLockHolder({ BUILD_URL: "https://ci/job/app/7/", USER: "jenkins" })).to.match(
      /^jenkins https:\/\/ci\/job\/app\/7\/ \(jenkins@\S+ pid \d+\)$/,
    );
    expect(deployLockHolder({ USER: "ada" })).to.match(/^ada@\S+ pid \d+$/);
  });
});
