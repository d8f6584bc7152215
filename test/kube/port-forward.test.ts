import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { StageError } from "../../pipeline-lib/src/errors.js";
import { applyObjects } from "../../pipeline-lib/src/kube/apply.js";
import { podForService } from "../../pipeline-lib/src/kube/pod-for-service.js";
import { forwardPort } from "../../pipeline-lib/src/kube/port-forward.js";
import { waitForRollout } from "../../pipeline-lib/src/kube/wait-for-rollout.js";
import { MemoryReporter } from "../../pipeline-lib/src/output/reporter.js";
import { rejection } from "../support/rejection.js";
import {
  createTestNamespace,
  deleteNamespace,
  deploymentManifest,
  kubeTestCluster,
  serviceManifest,
} from "./kube-test-support.js";

describe("kube port-forward: reach a Ready pod behind a Service @slow", function () {
  this.timeout(60_000);
  let kubeConfig: k8s.KubeConfig;
  let namespace = "";

  before(async function () {
    this.timeout(60 * 60_000);
    kubeConfig = (await kubeTestCluster()).kubeConfig;
    namespace = await createTestNamespace(kubeConfig, "kube-forward");
    await applyObjects(kubeConfig, [
      deploymentManifest({ namespace, name: "web" }),
      serviceManifest(namespace, "web"),
      deploymentManifest({ namespace, name: "stuck", mode: "unready" }),
      serviceManifest(namespace, "stuck"),
    ]);
    await waitForRollout(kubeConfig, {
      namespace,
      name: "web",
      timeoutMs: 40_000,
      reporter: new MemoryReporter(),
    });
  });

  after(async function () {
    await deleteNamespace(kubeConfig, namespace);
  });

  it("picks a Ready pod, resolves the Service's named target port, and forwards to it", async function () {
    const backend = await podForService(kubeConfig, namespace, "web");
    expect(backend.pod).to.match(/^web-/);
    expect(backend.port).to.equal(8080);
    await using tunnel = await forwardPort(kubeConfig, { namespace, ...backend });
    for (let i = 0; i < 2; i++) {
      const response = await fetch(tunnel.url, { signal: AbortSignal.timeout(10_000) });
      expect(response.status).to.equal(200);
      expect(await response.text()).to.equal(`hello from ${backend.pod} mode ok\n`);
    }
  });

  it("selects the Service port by name or number", async function () {
    expect((await podForService(kubeConfig, namespace, "web", { port: "web" })).port).to.equal(
      8080,
    );
    expect((await podForService(kubeConfig, namespace, "web", { port: 80 })).port).to.equal(8080);
    const error = await rejection(podForService(kubeConfig, namespace, "web", { port: 443 }));
    expect(error.message).to.equal(`Service ${namespace}/web has no port 443; its ports: web (80)`);
  });

  it("says which pods are behind a Service when none is Ready", async function () {
    const error = await rejection(podForService(kubeConfig, namespace, "stuck"));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.match(
      new RegExp(
        `^no Ready pod behind Service ${namespace}/stuck \\(selector app.kubernetes.io/name=stuck\\): stuck-\\S+ \\((Pending|Running), not ready\\)$`,
      ),
    );
  });

  it("names a Service that does not exist", async function () {
    const error = await rejection(podForService(kubeConfig, namespace, "nope"));
    expect(error.message).to.equal(`Service ${namespace}/nope does not exist`);
  });
});
