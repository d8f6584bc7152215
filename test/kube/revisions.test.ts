import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { ExitCode, UsageError } from "../../pipeline-lib/src/errors.js";
import { applyObjects } from "../../pipeline-lib/src/kube/apply.js";
import {
  DeploymentNotFound,
  listRevisions,
  NothingToRollBack,
  rollbackDeployment,
} from "../../pipeline-lib/src/kube/revisions.js";
import { RolloutFailure, waitForRollout } from "../../pipeline-lib/src/kube/wait-for-rollout.js";
import { MemoryReporter } from "../../pipeline-lib/src/output/reporter.js";
import { rejection } from "../support/rejection.js";
import {
  createTestNamespace,
  deleteNamespace,
  deploymentManifest,
  kubeTestCluster,
  type AppMode,
} from "./kube-test-support.js";

const COMMIT = "pipeline-lib.dev/commit";

describe("kube revisions and rollback: kubectl rollout undo semantics @slow", function () {
  this.timeout(60_000);
  let kubeConfig: k8s.KubeConfig;
  let apps: k8s.AppsV1Api;
  let namespace = "";

  before(async function () {
    this.timeout(60 * 60_000);
    kubeConfig = (await kubeTestCluster()).kubeConfig;
    apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
    namespace = await createTestNamespace(kubeConfig, "kube-revisions");
  });

  after(async function () {
    await deleteNamespace(kubeConfig, namespace);
  });

  async function deploy(name: string, mode: AppMode, commit: string, env?: Record<string, string>) {
    const manifest = deploymentManifest({
      namespace,
      name,
      mode,
      env,
      version: commit,
      annotations: { [COMMIT]: commit },
    });
    await applyObjects(kubeConfig, [manifest]);
    return waitForRollout(kubeConfig, {
      namespace,
      name,
      timeoutMs: 40_000,
      reporter: new MemoryReporter(),
    });
  }

  async function envOf(name: string): Promise<Record<string, string | undefined>> {
    const d = await apps.readNamespacedDeployment({ namespace, name });
    const env = d.spec?.template.spec?.containers[0]?.env ?? [];
    return Object.fromEntries(env.map((e) => [e.name, e.value]));
  }

  it("rolls a failed release back to the previous revision, which becomes healthy again", async function () {
    await deploy("app", "ok", "aaa1111", { LEGACY: "1" });
    const failed = await rejection(deploy("app", "crash", "bbb2222"));
    expect(failed).to.be.instanceOf(RolloutFailure);

    const before = await listRevisions(kubeConfig, namespace, "app");
    expect(before.map((r) => [r.revision, r.annotations[COMMIT], r.current])).to.deep.equal([
      [1, "aaa1111", false],
      [2, "bbb2222", true],
    ]);
    expect(before[0]!.replicaSet).to.match(/^app-[a-z0-9]+$/);
    expect(before[0]!.images).to.have.length(1);
    expect(before[0]!.digest).to.equal(undefined); // referenced by tag in this test
    expect(Date.parse(before[0]!.createdAt!)).to.be.greaterThan(0);

    const result = await rollbackDeployment(kubeConfig, namespace, "app");
    expect(result).to.deep.include({
      changed: true,
      fromRevision: 2,
      toRevision: 1,
      replicaSet: before[0]!.replicaSet,
    });
    expect(result.message).to.equal(
      `Deployment ${namespace}/app rolled back from revision 2 to the template of revision 1 (${before[0]!.images[0]})`,
    );
    const status = await waitForRollout(kubeConfig, {
      namespace,
      name: "app",
      timeoutMs: 40_000,
      reporter: new MemoryReporter(),
    });
    // The controller reuses revision 1's ReplicaSet and numbers it 3.
    expect(status).to.deep.include({ state: "complete", revision: 3, available: 1 });
    expect(status.replicaSet).to.equal(before[0]!.replicaSet);
    expect(await envOf("app")).to.deep.equal({ MODE: "ok", LEGACY: "1" });

    const after = await listRevisions(kubeConfig, namespace, "app");
    expect(after.map((r) => [r.revision, r.annotations[COMMIT], r.current])).to.deep.equal([
      [2, "bbb2222", false],
      [3, "aaa1111", true],
    ]);
    // The Deployment carries revision 1's annotations again, so history reads right.
    const d = await apps.readNamespacedDeployment({ namespace, name: "app" });
    expect(d.metadata?.annotations?.[COMMIT]).to.equal("aaa1111");
    expect(d.spec?.template.metadata?.labels).not.to.have.property("pod-template-hash");
  });

  it("a rollback to the template the Deployment runs changes nothing, and says so", async function () {
    const result = await rollbackDeployment(kubeConfig, namespace, "app", { toRevision: 3 });
    expect(result.changed).to.equal(false);
    expect(result.message).to.match(
      new RegExp(
        `^Deployment ${namespace}/app already runs the template of revision 3 .*; nothing was changed$`,
      ),
    );
    const d = await apps.readNamespacedDeployment({ namespace, name: "app" });
    expect(d.metadata?.annotations?.["deployment.kubernetes.io/revision"]).to.equal("3");
  });

  it("the next deploy after a rollback owns every field again, so it can drop one", async function () {
    const managers = (await apps.readNamespacedDeployment({ namespace, name: "app" })).metadata
      ?.managedFields;
    expect(managers?.map((m) => `${m.manager}/${m.operation}`)).not.to.include(
      "pipeline-lib/Update",
    );
    // Revision 1 set LEGACY; the rollback brought it back; this release no longer sets it.
    const status = await deploy("app", "ok", "ccc3333");
    expect(status).to.deep.include({ state: "complete", revision: 4 });
    expect(await envOf("app")).to.deep.equal({ MODE: "ok" });
    const d = await apps.readNamespacedDeployment({ namespace, name: "app" });
    expect(d.metadata?.annotations?.[COMMIT]).to.equal("ccc3333");
  });

  it("names an unknown revision and lists the known ones (exit 2)", async function () {
    const error = await rejection(
      rollbackDeployment(kubeConfig, namespace, "app", { toRevision: 1 }),
    );
    expect(error).to.be.instanceOf(UsageError);
    expect(error.message).to.equal(
      `Deployment ${namespace}/app has no revision 1; its revisions are 2, 3, 4`,
    );
  });

  it("a Deployment deployed once has nothing to roll back to, and says it plainly", async function () {
    await deploy("fresh", "ok", "ddd4444");
    const error = await rejection(rollbackDeployment(kubeConfig, namespace, "fresh"));
    expect(error).to.be.instanceOf(NothingToRollBack);
    expect((error as NothingToRollBack).exitCode).to.equal(ExitCode.StageFailed);
    expect(error.message).to.match(
      new RegExp(
        `^nothing to roll back to: Deployment ${namespace}/fresh has no revision before revision 1 `,
      ),
    );
  });

  it("names a Deployment that does not exist (exit 2)", async function () {
    const error = await rejection(listRevisions(kubeConfig, namespace, "missing"));
    expect(error).to.be.instanceOf(DeploymentNotFound);
    expect(error.message).to.equal(
      `Deployment ${namespace}/missing does not exist; check the namespace and the app name`,
    );
  });
});
