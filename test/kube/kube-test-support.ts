/**
 * What the kube integration tests share: the cluster, one small test image
 * whose behaviour a container's MODE variable picks, a namespace per test file,
 * and a Deployment manifest.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { acquireCluster, type Cluster } from "../../infra/testbed/cluster.js";
import { ensureNamespace } from "../../pipeline-lib/src/kube/apply.js";
import { baseImages } from "../support/base-images.js";

const exec = promisify(execFile);

/**
 * ok: answers every request; crash: logs three lines and exits 3;
 * unready: answers, but /readyz says 503 forever.
 */
const APP_JS = `const mode = process.env.MODE ?? "ok";
console.log("starting in mode " + mode);
if (mode === "crash") {
  console.log("reading configuration");
  console.error("fatal: DATABASE_URL is not set");
  process.exit(3);
}
require("node:http")
  .createServer((req, res) => {
    if (req.url === "/readyz" && mode === "unready") {
      res.statusCode = 503;
      return res.end("not ready\\n");
    }
    res.end("hello from " + process.env.HOSTNAME + " mode " + mode + "\\n");
  })
  .listen(8080, () => console.log("listening on 8080"));
process.on("SIGTERM", () => process.exit(0));
`;
const dockerfile = (base: string) => `FROM ${base}
COPY app.js /app/app.js
USER 1000
CMD ["node", "/app/app.js"]
`;

/** The test image, tagged by its content, so that a second run finds it built and loaded. */
let testImage = "";

/** The test image's reference; kubeTestCluster() sets it. */
export function testImageRef(): string {
  if (!testImage) throw new Error("call kubeTestCluster() in a before hook first");
  return testImage;
}

export type AppMode = "ok" | "crash" | "unready";

/** The cluster, with the test image built and loaded into it. */
export async function kubeTestCluster(): Promise<Cluster> {
  const base = (await baseImages()).node;
  const file = dockerfile(base);
  const hash = createHash("sha256").update(APP_JS).update(file).digest("hex").slice(0, 12);
  testImage = `pipeline-kube-test/app:${hash}`;
  const cluster = await acquireCluster();
  if (!(await nodeHasImage(cluster.kubeConfig, testImage))) {
    await buildTestImage(testImage, file);
    await cluster.loadImage(testImage);
  }
  return cluster;
}

/** A fresh namespace; delete it with deleteNamespace in `after`. */
export async function createTestNamespace(kubeConfig: k8s.KubeConfig, prefix: string) {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await ensureNamespace(kubeConfig, name, { "pipeline-lib.dev/test": "kube" });
  return name;
}

export async function deleteNamespace(kubeConfig: k8s.KubeConfig, name: string): Promise<void> {
  if (!name) return;
  await kubeConfig
    .makeApiClient(k8s.CoreV1Api)
    .deleteNamespace({ name, propagationPolicy: "Background", gracePeriodSeconds: 0 })
    .catch(() => undefined);
}

export interface DeploymentShape {
  namespace: string;
  name?: string;
  mode?: AppMode;
  /** The pod template's app.kubernetes.io/version label: a new one makes a new revision. */
  version?: string;
  replicas?: number;
  /** More environment variables for the container. */
  env?: Record<string, string>;
  annotations?: Record<string, string>;
  progressDeadlineSeconds?: number;
  /** Each pod becomes ready only this long after it starts (a slow start). */
  readyAfterSeconds?: number;
}

/** A Deployment of the test image, one container named app with its readiness on /readyz. */
export function deploymentManifest(shape: DeploymentShape): k8s.V1Deployment {
  const { namespace, name = "app", mode = "ok", replicas = 1 } = shape;
  const labels = { "app.kubernetes.io/name": name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels, annotations: shape.annotations },
    spec: {
      replicas,
      revisionHistoryLimit: 5,
      progressDeadlineSeconds: shape.progressDeadlineSeconds,
      selector: { matchLabels: labels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: shape.version
            ? { ...labels, "app.kubernetes.io/version": shape.version }
            : labels,
        },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: "app",
              image: testImageRef(),
              imagePullPolicy: "IfNotPresent",
              env: [
                { name: "MODE", value: mode },
                ...Object.entries(shape.env ?? {}).map(([name, value]) => ({ name, value })),
              ],
              ports: [{ name: "http", containerPort: 8080 }],
              readinessProbe: {
                httpGet: { path: "/readyz", port: "http" },
                ...(shape.readyAfterSeconds
                  ? { initialDelaySeconds: shape.readyAfterSeconds }
                  : {}),
                periodSeconds: 1,
                failureThreshold: 1,
              },
            },
          ],
        },
      },
    },
  };
}

export function serviceManifest(namespace: string, name = "app"): k8s.V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: {
      selector: { "app.kubernetes.io/name": name },
      ports: [{ name: "web", port: 80, targetPort: "http" }],
    },
  };
}

async function nodeHasImage(kubeConfig: k8s.KubeConfig, ref: string): Promise<boolean> {
  const nodes = await kubeConfig.makeApiClient(k8s.CoreV1Api).listNode();
  const names = new Set([ref, `docker.io/${ref}`]);
  return nodes.items.every((node) =>
    (node.status?.images ?? []).some((image) => image.names?.some((n) => names.has(n))),
  );
}

async function buildTestImage(ref: string, file: string): Promise<void> {
  const known = await exec("docker", ["image", "inspect", ref]).then(
    () => true,
    () => false,
  );
  if (known) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), "kube-test-image-"));
  try {
    await writeFile(path.join(dir, "app.js"), APP_JS);
    await writeFile(path.join(dir, "Dockerfile"), file);
    await exec("docker", ["build", "-q", "-t", ref, dir]).catch((cause: unknown) => {
      throw new Error(`docker build of ${ref} failed`, { cause });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
