import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { acquireCluster } from "../../infra/testbed/cluster.js";
import { ensureNamespace } from "../../pipeline-lib/src/kube/apply.js";
import { lintContext, lintFindings } from "../support/lint-context.js";

const LABELS = `
    app.kubernetes.io/name: app
    app.kubernetes.io/part-of: lint-test
    app.kubernetes.io/managed-by: pipeline-lib`;

/** What `pipeline lint` asks of a container, and nothing that Pod Security "restricted" adds. */
const container = (name: string, extraSecurity = "") => `
    - name: ${name}
      image: registry.example.com/app:1.0.0
      readinessProbe: { httpGet: { path: /readyz, port: 8080 } }
      livenessProbe: { httpGet: { path: /healthz, port: 8080 } }
      resources: { requests: { cpu: 10m, memory: 32Mi }, limits: { memory: 64Mi } }
      securityContext:
        readOnlyRootFilesystem: true${extraSecurity}`;

const RESTRICTED = `
        allowPrivilegeEscalation: false
        capabilities: { drop: ["ALL"] }`;

/** The app's Deployment, fit for "restricted"; and a Pod that passes every offline rule but not "restricted". */
const MANIFESTS = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:${LABELS}
spec:
  replicas: 1
  selector: { matchLabels: { app.kubernetes.io/name: app } }
  template:
    metadata:
      labels: { app.kubernetes.io/name: app }
    spec:
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: RuntimeDefault } }
      containers:${container("app", RESTRICTED).replace(/\n/g, "\n    ")}
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
  labels:${LABELS}
spec:
  securityContext: { runAsNonRoot: true, runAsUser: 1000 }
  containers:${container("debug")}
`;

describe("pipeline lint --server-dry-run: what only the API server's admission catches @slow", function () {
  this.timeout(60_000);
  let kubeConfig: k8s.KubeConfig;
  let namespace = "";
  let dir = "";

  before(async function () {
    // A cold testbed builds Kubernetes first.
    this.timeout(60 * 60_000);
    kubeConfig = (await acquireCluster()).kubeConfig;
    namespace = `lint-${randomBytes(3).toString("hex")}`;
    await ensureNamespace(kubeConfig, namespace, {
      "pipeline-lib.dev/test": "lint",
      "pod-security.kubernetes.io/enforce": "restricted",
    });
    dir = await mkdtemp(path.join(os.tmpdir(), "lint-dry-run-"));
    await mkdir(path.join(dir, "k8s"));
    await writeFile(path.join(dir, "k8s", "app.yaml"), MANIFESTS);
    await writeFile(path.join(dir, "kubeconfig"), kubeConfig.exportConfig());
    await writeFile(
      path.join(dir, "pipeline.config.yaml"),
      `app: { name: app }
image: { repository: 127.0.0.1:5000/app }
deploy: { manifests: k8s }
environments:
  test: { namespace: ${namespace}, replicas: 1 }
`,
    );
  });

  after(async function () {
    if (namespace) {
      await kubeConfig
        .makeApiClient(k8s.CoreV1Api)
        .deleteNamespace({ name: namespace, propagationPolicy: "Background" })
        .catch(() => undefined);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const options = { skip: ["dockerfile", "jenkinsfiles", "shell", "typescript"] } as const;
  const noListing = { listFiles: () => Promise.resolve([]) };

  it("offline, the manifests pass", async () => {
    const { result, failed } = await lintFindings(
      { skip: [...options.skip] },
      lintContext(process.env, dir),
      noListing,
    );
    expect(result.findings).to.deep.equal([]);
    expect(failed).to.be.false;
  });

  it("the dry run names the Pod that Pod Security 'restricted' would refuse, and stores nothing", async () => {
    const { result, failed } = await lintFindings(
      {
        skip: [...options.skip],
        serverDryRun: true,
        env: "test",
        kubeconfig: path.join(dir, "kubeconfig"),
      },
      lintContext(process.env, dir),
      noListing,
    );
    expect(failed).to.be.true;
    expect(result.findings.map((f) => [f.file, f.line, f.rule, f.severity])).to.deep.equal([
      // The line of the Pod's document: its apiVersion, the line before `kind: Pod`.
      ["k8s/app.yaml", MANIFESTS.split("\n").indexOf("kind: Pod"), "k8s/server-dry-run", "error"],
    ]);
    expect(result.findings[0]!.message)
      .to.include(`would reject Pod ${namespace}/debug`)
      .and.include('violates PodSecurity "restricted:latest"');
    const pods = await kubeConfig.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace });
    expect(pods.items).to.deep.equal([]);
  });
});
