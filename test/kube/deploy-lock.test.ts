import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { ExitCode, StageError } from "../../pipeline-lib/src/errors.js";
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

  // A test that failed may leave its Lease behind (a lock wrongly taken is
  // never released): the next one starts from a free lock all the same. A
  // leaked lock's next renewal then finds the Lease gone or replaced, and stops.
  afterEach(async function () {
    await leases
      .deleteNamespacedLease({ namespace, name: DEPLOY_LOCK_NAME })
      .catch(() => undefined);
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

  it("takes over a lease its holder stopped renewing once it has seen it unchanged for a whole lease, and says so", async function () {
    const longAgo = new Date(Date.now() - 120_000).toISOString().replace("Z", "000Z");
    await leases.createNamespacedLease({
      namespace,
      body: {
        metadata: { name: DEPLOY_LOCK_NAME },
        spec: {
          holderIdentity: "jenkins https://ci/job/app/40/ (crashed)",
          leaseDurationSeconds: 2,
          // MicroTime needs six fractional digits; client-node passes strings through.
          acquireTime: longAgo as unknown as Date,
          renewTime: longAgo as unknown as Date,
        },
      },
    });
    const started = performance.now();
    const { lock, reporter } = acquire("pipeline D", { waitMs: 10_000 });
    await using held = await lock;
    // renewTime says two minutes ago, but that is the holder's clock: we wait
    // the holder's 2 s lease of seeing no change ourselves.
    expect(performance.now() - started).to.be.at.least(2000);
    expect(held.holder).to.equal("pipeline D");
    expect(reporter.lines).to.have.length(2);
    expect(reporter.lines[0]).to.match(
      /^waiting for the deploy lock of namespace .*: held by jenkins https:\/\/ci\/job\/app\/40\/ \(crashed\) since /,
    );
    expect(reporter.lines[1]).to.match(
      new RegExp(
        `^warning: taking over the stale deploy lock of namespace ${namespace}: jenkins https://ci/job/app/40/ \\(crashed\\) ` +
          `took it at .* and last renewed it .* \\(by its clock\\); it has not changed for [23]s, more than its 2s lease$`,
      ),
    );
    const taken = await lease();
    expect(taken?.spec?.holderIdentity).to.equal("pipeline D");
    expect(taken?.spec?.leaseTransitions).to.equal(1);
  });

  it("does not take the lock from a live holder whose clock is 5 minutes behind", async function () {
    // A real holder on an agent whose clock is 5 minutes slow: every renewTime
    // it writes is 5 minutes in the past, yet it renews every second.
    const skewed = "jenkins https://ci/job/app/50/ (clock 5 minutes behind)";
    await using holder = await acquire(skewed, {
      leaseSeconds: 3,
      clock: { now: () => Date.now() - 5 * 60_000 },
    }).lock;
    const first = await lease();
    const { lock, reporter } = acquire("pipeline F", { leaseSeconds: 3, waitMs: 8000 });
    // 8 s: more than two and a half leases of the holder.
    const error = await rejection(lock);
    expect(error).to.be.instanceOf(LockHeld);
    expect(error.message).to.contain(`is held by ${skewed}`);
    expect(reporter.lines.join("\n")).to.not.contain("taking over");

    const last = await lease();
    expect(last?.spec?.holderIdentity).to.equal(skewed);
    const renewed = (l: k8s.V1Lease | undefined) => new Date(l!.spec!.renewTime!).getTime();
    expect(renewed(last), "the holder kept renewing").to.be.greaterThan(renewed(first));
    expect(Date.now() - renewed(last), "with its clock 5 minutes behind").to.be.within(
      4.5 * 60_000,
      5.5 * 60_000,
    );
    holder.assertHeld();
    await holder.confirmHeld();
  });

  it("takes over from a holder whose clock is 5 minutes ahead one lease after it stops renewing, not 5 minutes later", async function () {
    this.timeout(60_000);
    // A holder on an agent whose clock is 5 minutes fast renews its 3 s lease
    // (every second, written here), then dies.
    const skewed = "jenkins https://ci/job/app/51/ (clock 5 minutes ahead)";
    const ahead = () => new k8s.V1MicroTime(Date.now() + 5 * 60_000);
    let written = await leases.createNamespacedLease({
      namespace,
      body: {
        metadata: { name: DEPLOY_LOCK_NAME },
        spec: {
          holderIdentity: skewed,
          leaseDurationSeconds: 3,
          acquireTime: ahead(),
          renewTime: ahead(),
        },
      },
    });
    let takenAt: number | undefined;
    const { lock, reporter } = acquire("pipeline G", { leaseSeconds: 3, waitMs: 20_000 });
    const taking = lock.then((held) => {
      takenAt = performance.now();
      return held;
    });
    taking.catch(() => undefined);
    let lastWrite = performance.now();
    for (let renewal = 0; renewal < 5; renewal++) {
      await sleep(1000);
      written = await leases.replaceNamespacedLease({
        namespace,
        name: DEPLOY_LOCK_NAME,
        body: { ...written, spec: { ...written.spec, renewTime: ahead() } },
      });
      lastWrite = performance.now();
    }
    expect(takenAt, "not taken while the holder renews").to.equal(undefined);

    // The holder died just now.
    await using held = await taking;
    const after = takenAt! - lastWrite;
    expect(after, "a lease of no change after the last renewal").to.be.at.least(2900);
    expect(after, "not its renewTime + lease, 5 minutes away").to.be.below(8000);
    expect(held.holder).to.equal("pipeline G");
    expect(reporter.lines.at(-1)).to.match(
      new RegExp(
        `^warning: taking over the stale deploy lock of namespace ${namespace}: ${skewed.replace(/[()]/g, "\\$&")} ` +
          `took it at .* and last renewed it .* \\(by its clock\\); it has not changed for [3-7]s, more than its 3s lease$`,
      ),
    );
    expect((await lease())?.spec?.holderIdentity).to.equal("pipeline G");
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

  it("confirmHeld renews a held lock, and throws naming the new holder once another writer replaced it", async function () {
    // 30 s: the renewal loop (every 10 s) stays out of the way; confirmHeld finds out itself.
    const held = await acquire("pipeline H", { leaseSeconds: 30 }).lock;
    const before = (await lease())!;
    await held.confirmHeld();
    const renewed = (await lease())!;
    expect(renewed.spec?.holderIdentity).to.equal("pipeline H");
    expect(renewed.metadata?.resourceVersion, "it wrote the Lease").to.not.equal(
      before.metadata?.resourceVersion,
    );

    const other = "jenkins https://ci/job/app/52/ (clock 5 minutes ahead)";
    await leases.replaceNamespacedLease({
      namespace,
      name: DEPLOY_LOCK_NAME,
      body: { ...renewed, spec: { ...renewed.spec, holderIdentity: other } },
    });
    const error = await rejection(held.confirmHeld());
    expect(error).to.be.instanceOf(LockLost);
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.equal(
      `lost the deploy lock of namespace ${namespace}: ${other} holds it now`,
    );
    expect(held.lost.aborted, "lost says so too").to.equal(true);
    expect(() => held.assertHeld()).to.throw(LockLost, `${other} holds it now`);
    await held.release();
    expect((await lease())?.spec?.holderIdentity, "the new holder's Lease stays").to.equal(other);
    await leases.deleteNamespacedLease({ namespace, name: DEPLOY_LOCK_NAME });
  });

  it("confirmHeld throws when the Lease was deleted, or the lock released", async function () {
    const held = await acquire("pipeline I", { leaseSeconds: 30 }).lock;
    await leases.deleteNamespacedLease({ namespace, name: DEPLOY_LOCK_NAME });
    const error = await rejection(held.confirmHeld());
    expect(error).to.be.instanceOf(LockLost);
    expect(error.message).to.equal(
      `lost the deploy lock of namespace ${namespace}: Lease ${namespace}/${DEPLOY_LOCK_NAME} was deleted`,
    );
    await held.release();

    const released = await acquire("pipeline J", { leaseSeconds: 30 }).lock;
    await released.release();
    const late = await rejection(released.confirmHeld());
    expect(late).to.be.instanceOf(StageError);
    expect(late.message).to.equal(`the deploy lock of namespace ${namespace} was released`);
    expect(await lease()).to.equal(undefined);
  });

  it("names the Jenkins build, else the user, host and process", function () {
    expect(deployLockHolder({ BUILD_URL: "https://ci/job/app/7/", USER: "jenkins" })).to.match(
      /^jenkins https:\/\/ci\/job\/app\/7\/ \(jenkins@\S+ pid \d+\)$/,
    );
    expect(deployLockHolder({ USER: "ada" })).to.match(/^ada@\S+ pid \d+$/);
  });
});
