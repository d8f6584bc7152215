import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { ExitCode } from "../../pipeline-lib/src/errors.js";
import { applyObjects } from "../../pipeline-lib/src/kube/apply.js";
import { ChangeWaker } from "../../pipeline-lib/src/kube/change-waker.js";
import { RolloutFailure, waitForRollout } from "../../pipeline-lib/src/kube/wait-for-rollout.js";
import { MemoryReporter } from "../../pipeline-lib/src/output/reporter.js";
import { rejection } from "../support/rejection.js";
import {
  createTestNamespace,
  deleteNamespace,
  deploymentManifest,
  kubeTestCluster,
  testImageRef,
  type DeploymentShape,
} from "./kube-test-support.js";

describe("kube waitForRollout: kubectl rollout status semantics, failing fast @slow", function () {
  this.timeout(60_000);
  let kubeConfig: k8s.KubeConfig;
  let namespace = "";

  before(async function () {
    this.timeout(60 * 60_000);
    kubeConfig = (await kubeTestCluster()).kubeConfig;
    namespace = await createTestNamespace(kubeConfig, "kube-rollout");
  });

  after(async function () {
    await deleteNamespace(kubeConfig, namespace);
  });

  async function deploy(shape: Omit<DeploymentShape, "namespace">) {
    await applyObjects(kubeConfig, [deploymentManifest({ namespace, ...shape })]);
  }

  it("resolves once every replica of the new revision is available, printing progress", async function () {
    await deploy({ name: "good", replicas: 2 });
    const reporter = new MemoryReporter();
    const status = await waitForRollout(kubeConfig, {
      namespace,
      name: "good",
      timeoutMs: 45_000,
      reporter,
    });
    expect(status).to.deep.include({
      state: "complete",
      desired: 2,
      updated: 2,
      available: 2,
      revision: 1,
    });
    expect(reporter.lines.at(-1)).to.match(
      /^Deployment kube-rollout-\w+\/good: rolled out revision 1: 2\/2 updated, 2 ready, 2 available$/,
    );
    // One line per change, not one per poll.
    const distinct = new Set(reporter.lines);
    expect(reporter.lines.length).to.be.lessThan(distinct.size + 3);
  });

  it("ends each wait at the Deployment's change, through a watch, not at the poll's end", async function () {
    await deploy({ name: "watched", replicas: 1 });
    await waitForRollout(kubeConfig, {
      namespace,
      name: "watched",
      timeoutMs: 45_000,
      reporter: new MemoryReporter(),
    });
    // A new revision with polling as good as off (one poll every 10 minutes):
    // only the watch's wake-ups can see it through inside the test's 60 s.
    await deploy({ name: "watched", replicas: 1, version: "v2" });
    const status = await waitForRollout(kubeConfig, {
      namespace,
      name: "watched",
      timeoutMs: 45_000,
      pollMs: 10 * 60_000,
      reporter: new MemoryReporter(),
    });
    expect(status).to.deep.include({ state: "complete", revision: 2, available: 1 });

    // The waker alone: a change wakes a sleep of an hour; with none, it elapses.
    using waker = ChangeWaker.start(
      kubeConfig,
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      "watched",
    );
    expect(await waker.sleep(20_000), "the watch's first event: the object as it is").to.equal(
      "changed",
    );
    expect(await waker.sleep(300)).to.equal("elapsed");
    const woken = waker.sleep(60 * 60_000);
    await deploy({ name: "watched", replicas: 2, version: "v2" });
    expect(await woken).to.equal("changed");
  });

  it("waits out a slow rollout that keeps progressing, longer than the no-progress limit, and fails one that stalls", async function () {
    // 3 replicas, one at a time, each ready 6 s after it starts: about 20 s in
    // all, twice the 10 s allowed without progress, and progressing throughout.
    await deploy({ name: "slow", replicas: 3 });
    await waitForRollout(kubeConfig, {
      namespace,
      name: "slow",
      timeoutMs: 60_000,
      reporter: new MemoryReporter(),
    });
    // The new revision replaces the pods one at a time (maxSurge 1, maxUnavailable 0).
    await deploy({ name: "slow", replicas: 3, readyAfterSeconds: 6, version: "v2" });
    const reporter = new MemoryReporter();
    const started = performance.now();
    const status = await waitForRollout(kubeConfig, {
      namespace,
      name: "slow",
      timeoutMs: 120_000,
      stallMs: 10_000,
      reporter,
    });
    expect(status).to.deep.include({ state: "complete", desired: 3, available: 3 });
    expect(
      performance.now() - started,
      "it took longer than the no-progress limit",
    ).to.be.greaterThan(10_000);

    await deploy({ name: "stuck", mode: "unready" });
    const stalled = await rejection(
      waitForRollout(kubeConfig, {
        namespace,
        name: "stuck",
        timeoutMs: 120_000,
        stallMs: 8_000,
        reporter: new MemoryReporter(),
      }),
    );
    expect(stalled).to.be.instanceOf(RolloutFailure);
    expect(stalled.message).to.match(/made no progress for 8s/);
  });

  it("fails fast when a pod of the new revision crash-loops, with the reason and its last log lines", async function () {
    await deploy({ name: "crashing", mode: "crash" });
    const started = Date.now();
    const error = await rejection(
      waitForRollout(kubeConfig, {
        namespace,
        name: "crashing",
        timeoutMs: 50_000,
        reporter: new MemoryReporter(),
      }),
    );
    expect(Date.now() - started).to.be.lessThan(30_000);
    expect(error).to.be.instanceOf(RolloutFailure);
    const failure = error as RolloutFailure;
    expect(failure.exitCode).to.equal(ExitCode.StageFailed);
    expect(failure.reason).to.equal("CrashLoopBackOff");
    expect(failure.pod).to.match(/^crashing-/);
    expect(failure.container).to.equal("app");
    // stdout and stderr are separate streams: their lines may interleave either way.
    expect(failure.logTail).to.have.members([
      "starting in mode crash",
      "reading configuration",
      "fatal: DATABASE_URL is not set",
    ]);
    expect(failure.message).to.contain(`Deployment ${namespace}/crashing failed to roll out: pod`);
    expect(failure.message).to.contain("container app is CrashLoopBackOff");
    expect(failure.message).to.contain("last run exited with code 3");
    expect(failure.message).to.contain("(previous instance):\n");
    expect(failure.message).to.contain("  | fatal: DATABASE_URL is not set");
  });

  it("gives up after the timeout on a pod that never becomes ready, naming it with its logs, probe failure and the namespace's other unready pods", async function () {
    // What an app that never gets ready is often waiting on: a store whose
    // volume cannot be bound, so its pod is never scheduled.
    const claim: k8s.V1PersistentVolumeClaim = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "stuck-data", namespace },
      spec: {
        storageClassName: "no-such-class",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
      },
    };
    const store: k8s.V1Pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "stuck-store", namespace },
      spec: {
        containers: [{ name: "store", image: testImageRef() }],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "stuck-data" } }],
      },
    };
    await applyObjects(kubeConfig, [claim, store]);
    await deploy({ name: "unready", mode: "unready" });
    const reporter = new MemoryReporter();
    const error = await rejection(
      waitForRollout(kubeConfig, { namespace, name: "unready", timeoutMs: 8_000, reporter }),
    );
    expect(error).to.be.instanceOf(RolloutFailure);
    const failure = error as RolloutFailure;
    expect(failure.reason).to.equal("Timeout");
    expect(failure.pod).to.match(/^unready-/);
    expect(failure.logTail).to.deep.equal(["starting in mode unready", "listening on 8080"]);
    expect(failure.message).to.match(
      /^Deployment kube-rollout-\w+\/unready did not roll out within 8s: 1\/1 updated, 0 ready, 0 available; waiting for pod unready-\S+ to become ready/,
    );
    expect(failure.message).to.match(
      /Readiness probe failed: HTTP probe failed with statuscode: 503/,
    );
    expect(failure.message).to.match(
      /\nother pods in the namespace that are not ready \(what it may be waiting on\):\n(?: {2}- .*\n)* {2}- stuck-store: Pending, not scheduled: .*unbound immediate PersistentVolumeClaims/,
    );
    expect(failure.message, "its own pods are not listed again").not.to.match(/ {2}- unready-/);
    expect(reporter.lines.join("\n")).to.match(/waiting for pod unready-\S+ to become ready/);
  });

  it("reports the timeout, not a stall, when its clock jumps past the deadline mid-wait", async () => {
    // A clock that disagrees: 60 s later between two polls (a suspended VM, an
    // NTP step). Both the deadline and the no-progress limit have then passed;
    // what the user asked for, the timeout, is what is reported.
    await deploy({ name: "jumpy", mode: "unready" });
    let jumped = 0;
    const clock = { now: () => Date.now() + jumped };
    const jump = setTimeout(() => (jumped = 60_000), 1_500);
    const error = await rejection(
      waitForRollout(kubeConfig, {
        namespace,
        name: "jumpy",
        timeoutMs: 30_000,
        clock,
        reporter: new MemoryReporter(),
      }),
    ).finally(() => clearTimeout(jump));
    expect(error).to.be.instanceOf(RolloutFailure);
    expect((error as RolloutFailure).reason).to.equal("Timeout");
    expect(error.message).to.match(
      /^Deployment kube-rollout-\w+\/jumpy did not roll out within 30s: /,
    );
  });

  it("stops waiting when its signal aborts", async function () {
    const controller = new AbortController();
    const waiting = waitForRollout(kubeConfig, {
      namespace,
      name: "unready",
      timeoutMs: 30_000,
      reporter: new MemoryReporter(),
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error("build aborted")), 500);
    const error = await rejection(waiting);
    expect(error.message).to.equal(
      `stopped waiting for the rollout of Deployment ${namespace}/unready`,
    );
    expect((error.cause as Error).message).to.equal("build aborted");
  });
});
