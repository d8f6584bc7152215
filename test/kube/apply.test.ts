import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { ExitCode } from "../../pipeline-lib/src/errors.js";
import {
  applyObjects,
  ApplyRejected,
  ensureNamespace,
  FIELD_MANAGER,
} from "../../pipeline-lib/src/kube/apply.js";
import { rejection } from "../support/rejection.js";
import {
  createTestNamespace,
  deleteNamespace,
  deploymentManifest,
  kubeTestCluster,
  serviceManifest,
} from "./kube-test-support.js";

describe("kube apply: server-side apply under one field manager @slow", function () {
  this.timeout(60_000);
  let kubeConfig: k8s.KubeConfig;
  let namespace = "";

  before(async function () {
    // A cold testbed builds Kubernetes first.
    this.timeout(60 * 60_000);
    kubeConfig = (await kubeTestCluster()).kubeConfig;
    namespace = await createTestNamespace(kubeConfig, "kube-apply");
  });

  after(async function () {
    await deleteNamespace(kubeConfig, namespace);
  });

  it("a dry run validates every object and creates nothing", async function () {
    const objects = [deploymentManifest({ namespace }), serviceManifest(namespace)];
    const checked = await applyObjects(kubeConfig, objects, { dryRun: true });
    expect(checked.map((a) => [a.ref, a.change])).to.deep.equal([
      [`Deployment ${namespace}/app`, "created"],
      [`Service ${namespace}/app`, "created"],
    ]);
    // The server defaulted the objects it would have stored…
    const service = checked[1]!.object as k8s.V1Service;
    expect(service.spec?.clusterIP).to.be.a("string");
    // …but stored none of them.
    const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
    const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    expect((await apps.listNamespacedDeployment({ namespace })).items).to.have.length(0);
    expect((await core.listNamespacedService({ namespace })).items).to.have.length(0);
  });

  it("a dry run reports every object the server rejects, by kind and name, with its message", async function () {
    const negative = deploymentManifest({ namespace, name: "negative", replicas: -1 });
    const misspelt = {
      ...serviceManifest(namespace, "misspelt"),
      spec: { selectr: { app: "x" }, ports: [{ port: 80 }] },
    };
    const error = await rejection(
      applyObjects(kubeConfig, [negative, serviceManifest(namespace), misspelt], {
        dryRun: true,
      }),
    );
    expect(error).to.be.instanceOf(ApplyRejected);
    const rejected = error as ApplyRejected;
    expect(rejected.exitCode).to.equal(ExitCode.StageFailed);
    expect(rejected.rejections.map((r) => r.ref)).to.deep.equal([
      `Deployment ${namespace}/negative`,
      `Service ${namespace}/misspelt`,
    ]);
    expect(error.message).to.contain("would reject 2 objects");
    expect(error.message).to.match(
      /Deployment kube-apply-\w+\/negative: .*spec\.replicas: Invalid value: -1: must be greater than or equal to 0/,
    );
    // Unknown fields are an error, not silently dropped.
    expect(error.message).to.match(
      /Service kube-apply-\w+\/misspelt: .*\.spec\.selectr: field not declared in schema/,
    );
    expect(error.message).not.to.contain("HTTP-Code");
  });

  it("applies, then reports unchanged and configured, owned by the pipeline-lib field manager", async function () {
    const service = serviceManifest(namespace);
    const [first] = await applyObjects(kubeConfig, [service]);
    expect(first!.change).to.equal("created");
    const [again] = await applyObjects(kubeConfig, [service]);
    expect(again!.change).to.equal("unchanged");
    const changed = { ...service, metadata: { ...service.metadata, labels: { tier: "web" } } };
    const [third] = await applyObjects(kubeConfig, [changed]);
    expect(third!.change).to.equal("configured");
    const stored = await kubeConfig
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedService({ namespace, name: "app" });
    expect(stored.metadata?.labels).to.deep.equal({ tier: "web" });
    const managers = stored.metadata?.managedFields?.map((m) => `${m.manager}/${m.operation}`);
    expect(managers).to.deep.equal([`${FIELD_MANAGER}/Apply`]);
  });

  it("a real apply stops at the first rejected object, naming it", async function () {
    const bad = deploymentManifest({ namespace, name: "bad", replicas: -1 });
    const after = { ...serviceManifest(namespace, "after-bad") };
    const error = await rejection(applyObjects(kubeConfig, [bad, after]));
    expect(error.message).to.match(/^the API server rejected Deployment kube-apply-\w+\/bad: /);
    const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    const services = await core.listNamespacedService({ namespace });
    expect(services.items.map((s) => s.metadata?.name)).not.to.include("after-bad");
  });

  it("ensureNamespace applies a Namespace with its labels", async function () {
    const applied = await ensureNamespace(kubeConfig, namespace, {
      "pipeline-lib.dev/test": "kube",
      "pipeline-lib.dev/env": "check",
    });
    expect(applied.ref).to.equal(`Namespace ${namespace}`);
    expect(applied.change).to.equal("configured");
    expect(applied.object.metadata?.labels).to.include({ "pipeline-lib.dev/env": "check" });
  });
});
