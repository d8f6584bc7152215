import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { acquireCluster, type Cluster } from "./cluster.js";
import { forwardPort } from "../../pipeline-lib/src/kube/port-forward.js";
import { baseImages } from "../../test/support/base-images.js";

const exec = promisify(execFile);
const TESTBED_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "testbed.sh");
const FIELD_MANAGER = "pipeline-lib";
const REVISION = "deployment.kubernetes.io/revision";
const GOOD_IMAGE = "pipeline-testbed/hello:ok";
const CRASHING_IMAGE = "pipeline-testbed/hello:crash";
const SERVER_JS = `require("node:http")
  .createServer((req, res) => res.end("hello from " + process.env.HOSTNAME + "\\n"))
  .listen(8080, () => console.log("listening on 8080"));
process.on("SIGTERM", () => process.exit(0));
`;
/**
 * What a pod sees of the cluster DNS: its resolv.conf, the addresses of
 * Service `echo` by short and by full name, an HTTP GET to http://echo/, and a
 * name outside the cluster. One JSON line on stdout.
 */
const DNS_CLIENT_JS = `const dns = require("node:dns").promises;
const lookup = (name) => dns.lookup(name, { family: 4 }).then((a) => a.address, (e) => "error " + e.code);
(async () => {
  const out = { resolvConf: require("node:fs").readFileSync("/etc/resolv.conf", "utf8") };
  out.short = await lookup("echo");
  out.full = await lookup("echo." + process.env.NAMESPACE + ".svc.cluster.local");
  out.outside = await lookup("example.com");
  // A Ready pod is in the Service once kube-proxy has synced; until then its
  // rule refuses the connection. A client retries that for a while, as ours do.
  const deadline = Date.now() + 20000;
  for (out.attempts = 1; ; out.attempts++) {
    try {
      const response = await fetch("http://echo/", { signal: AbortSignal.timeout(10000) });
      out.http = response.status + " " + (await response.text()).trim();
    } catch (e) {
      out.http = "error " + (e.cause?.code ?? e.message);
    }
    if (out.http !== "error ECONNREFUSED" || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.log(JSON.stringify(out));
})();
`;

describe("testbed: a Deployment on a real Kubernetes @slow", function () {
  let cluster: Cluster;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let discovery: k8s.DiscoveryV1Api;
  let namespace = "";

  before(async function () {
    // A cold testbed builds Kubernetes and etcd from source first.
    this.timeout(60 * 60_000);
    const images = baseImages().then((base) => buildImages(base.node));
    cluster = await acquireCluster();
    core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
    apps = cluster.kubeConfig.makeApiClient(k8s.AppsV1Api);
    discovery = cluster.kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
    await images;
    for (const image of [GOOD_IMAGE, CRASHING_IMAGE]) await cluster.loadImage(image);
    const ns = await core.createNamespace({
      body: {
        metadata: {
          generateName: "testbed-",
          labels: { "app.kubernetes.io/part-of": "pipeline-lib-tests" },
        },
      },
    });
    namespace = ns.metadata?.name ?? "";
    // The ServiceAccount controller must have made "default" before pods can be created.
    await waitFor(`ServiceAccount default in namespace ${namespace}`, 60_000, async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace });
      return true;
    });
  });

  after(async function () {
    this.timeout(120_000);
    if (namespace) await core.deleteNamespace({ name: namespace });
  });

  it("rolls out a locally built image, which answers 200 through a port-forward", async function () {
    this.timeout(180_000);
    await apply(GOOD_IMAGE);
    await waitForAvailable(120_000);
    await expectHello();
  });

  it("shows the rollout to a user through `testbed.sh kubectl`", async function () {
    this.timeout(60_000);
    if (cluster.source !== "testbed") {
      // The testbed's kubectl talks to the testbed only; on a context cluster
      // the API itself must tell the same story.
      const d = await apps.readNamespacedDeployment({ name: "hello", namespace });
      expect(d.status?.availableReplicas).to.equal(1);
      return;
    }
    const kubectl = async (...args: string[]) =>
      (await exec("bash", [TESTBED_SCRIPT, "kubectl", ...args])).stdout;
    const version = JSON.parse(await kubectl("version", "-o", "json")) as {
      clientVersion?: { gitVersion?: string };
      serverVersion?: { gitVersion?: string };
    };
    expect(version.serverVersion?.gitVersion).to.match(/^v1\.\d+\.\d+$/);
    expect(version.clientVersion?.gitVersion, "kubectl built with the cluster").to.equal(
      version.serverVersion?.gitVersion,
    );
    expect(await kubectl("get", "nodes", "-o", "name")).to.match(/^node\//);
    const available = await kubectl(
      ...["-n", namespace, "get", "deployment", "hello"],
      ...["-o", "jsonpath={.status.availableReplicas}"],
    );
    expect(available).to.equal("1");
  });

  it("answers through a NodePort Service on 127.0.0.1 (kube-proxy, route_localnet)", async function () {
    this.timeout(60_000);
    const service = await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: "hello" },
        spec: {
          type: "NodePort",
          selector: { "app.kubernetes.io/name": "hello" },
          ports: [{ port: 80, targetPort: "http" }],
        },
      },
    });
    const nodePort = service.spec?.ports?.[0]?.nodePort;
    expect(nodePort, "allocated nodePort").to.be.a("number");
    // Only the testbed promises NodePorts on the test machine's loopback; a
    // context cluster's nodes are elsewhere, so there the Service is checked
    // through its endpoints instead.
    if (cluster.source === "testbed") {
      let body = "";
      await waitFor(`NodePort ${nodePort} on 127.0.0.1`, 30_000, async () => {
        const response = await fetch(`http://127.0.0.1:${nodePort}/`, {
          signal: AbortSignal.timeout(2_000),
        }).catch(() => undefined);
        body = response?.status === 200 ? await response.text() : "";
        return body !== "";
      });
      expect(body).to.match(/^hello from hello-/);
    } else {
      await waitFor(`endpoints of Service ${namespace}/hello`, 30_000, async () => {
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace,
          labelSelector: "kubernetes.io/service-name=hello",
        });
        return slices.items.some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready));
      });
    }
  });

  it("resolves a Service by its short and full name from a pod (cluster DNS), and nothing outside", async function () {
    this.timeout(120_000);
    const echoLabels = { "app.kubernetes.io/name": "echo" };
    const restricted: k8s.V1SecurityContext = {
      runAsNonRoot: true,
      runAsUser: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    };
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "echo", labels: echoLabels },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: "echo",
              image: GOOD_IMAGE,
              imagePullPolicy: "IfNotPresent",
              ports: [{ name: "http", containerPort: 8080 }],
              readinessProbe: { httpGet: { path: "/", port: "http" }, periodSeconds: 1 },
              securityContext: restricted,
            },
          ],
        },
      },
    });
    const service = await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: "echo" },
        spec: { selector: echoLabels, ports: [{ port: 80, targetPort: "http" }] },
      },
    });
    const clusterIP = service.spec?.clusterIP;
    await waitFor(`pod ${namespace}/echo to be ready`, 60_000, async () => {
      const pod = await core.readNamespacedPod({ name: "echo", namespace });
      return (
        pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false
      );
    });

    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "dns-client" },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "client",
              image: GOOD_IMAGE,
              imagePullPolicy: "IfNotPresent",
              command: ["node", "-e", DNS_CLIENT_JS],
              env: [
                {
                  name: "NAMESPACE",
                  valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
                },
              ],
              securityContext: restricted,
            },
          ],
        },
      },
    });
    let phase = "";
    await waitFor(`pod ${namespace}/dns-client to finish`, 60_000, async () => {
      const pod = await core.readNamespacedPod({ name: "dns-client", namespace });
      phase = pod.status?.phase ?? "";
      return phase === "Succeeded" || phase === "Failed";
    });
    const output = await core.readNamespacedPodLog({ name: "dns-client", namespace });
    expect(phase, `dns-client's output: ${output}`).to.equal("Succeeded");
    const seen = JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as Record<string, string>;

    expect(seen.short, "echo").to.equal(clusterIP);
    expect(seen.full, `echo.${namespace}.svc.cluster.local`).to.equal(clusterIP);
    expect(seen.http, `GET http://echo/ (attempt ${seen.attempts})`).to.match(
      /^200 hello from echo$/,
    );
    if (cluster.source === "testbed") {
      // The testbed's CoreDNS on the node address; it forwards nothing, so a
      // name outside the cluster does not exist (NXDOMAIN, not a timeout).
      expect(seen.resolvConf).to.match(/^nameserver 10\.245\.0\.1$/m);
      expect(seen.resolvConf).to.match(
        new RegExp(
          `^search ${namespace}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local\\b`,
          "m",
        ),
      );
      expect(seen.outside, "example.com").to.equal("error ENOTFOUND");
    }
  });

  it("returns a Released volume to the pool, wiped, as the same object (`testbed.sh up`)", async function () {
    this.timeout(180_000);
    if (cluster.source !== "testbed") return; // a context cluster's storage is its own
    const claim = "recycled";
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: claim },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    let volumeName = "";
    await waitFor(`claim ${claim} to be Bound`, 120_000, async () => {
      const bound = await core.readNamespacedPersistentVolumeClaim({ name: claim, namespace });
      volumeName = bound.spec?.volumeName ?? "";
      return bound.status?.phase === "Bound";
    });
    const before = await core.readPersistentVolume({ name: volumeName });
    const dir = before.spec?.hostPath?.path ?? "";
    await writeFile(path.join(dir, "left-behind"), "the data of a deleted claim\n");
    await core.deleteNamespacedPersistentVolumeClaim({ name: claim, namespace });
    await waitFor(`volume ${volumeName} to be Released`, 60_000, async () => {
      const volume = await core.readPersistentVolume({ name: volumeName });
      return volume.status?.phase === "Released" || volume.spec?.claimRef?.name !== claim;
    });

    await exec("bash", [TESTBED_SCRIPT, "up"], { maxBuffer: 16 * 1024 * 1024 });

    // Another file's `up` may have recycled it first, and another claim may
    // hold it by now: either way it left the deleted claim, wiped.
    const after = await core.readPersistentVolume({ name: volumeName });
    expect(after.metadata?.uid, "the same object, not deleted and made again").to.equal(
      before.metadata?.uid,
    );
    expect(after.spec?.claimRef?.uid ?? "none").not.to.equal(before.spec?.claimRef?.uid);
    expect(after.status?.phase).to.be.oneOf(["Available", "Bound"]);
    expect(await readdir(dir)).not.to.include("left-behind");
    expect((await stat(dir)).mode & 0o7777, "writable by a non-root pod").to.equal(0o1777);
  });

  it("sees a crashing image fail, and undoes the rollout back to the working revision", async function () {
    this.timeout(300_000);
    await apply(CRASHING_IMAGE);
    const failure = await waitForCrash(120_000);
    expect(failure).to.match(/CrashLoopBackOff|exit code 1/);

    const restored = await undoRollout("hello");
    expect(restored.containers[0]?.image).to.equal(GOOD_IMAGE);
    await waitForAvailable(120_000);
    const deployment = await apps.readNamespacedDeployment({ name: "hello", namespace });
    expect(deployment.spec?.template.spec?.containers[0]?.image).to.equal(GOOD_IMAGE);
    await expectHello();
  });

  async function apply(image: string): Promise<void> {
    const labels = {
      "app.kubernetes.io/name": "hello",
      "app.kubernetes.io/part-of": "pipeline-lib-tests",
    };
    const body: k8s.V1Deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "hello", namespace, labels },
      spec: {
        replicas: 1,
        revisionHistoryLimit: 5,
        progressDeadlineSeconds: 120,
        selector: { matchLabels: { "app.kubernetes.io/name": "hello" } },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: "hello",
                image,
                imagePullPolicy: "IfNotPresent",
                ports: [{ name: "http", containerPort: 8080 }],
                readinessProbe: { httpGet: { path: "/", port: "http" }, periodSeconds: 1 },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 1000,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
              },
            ],
          },
        },
      },
    };
    await apps.patchNamespacedDeployment(
      { name: "hello", namespace, body, fieldManager: FIELD_MANAGER, force: true },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply),
    );
  }

  /** `kubectl rollout status` semantics, failing fast on ProgressDeadlineExceeded. */
  async function waitForAvailable(timeoutMs: number): Promise<void> {
    await waitFor(`Deployment ${namespace}/hello to be available`, timeoutMs, async () => {
      const d = await apps.readNamespacedDeployment({ name: "hello", namespace });
      const s = d.status ?? {};
      const progressing = s.conditions?.find((c) => c.type === "Progressing");
      if (progressing?.reason === "ProgressDeadlineExceeded") {
        throw new Error(
          `Deployment ${namespace}/hello: ${progressing.message ?? "progress deadline exceeded"}`,
        );
      }
      const want = d.spec?.replicas ?? 1;
      return (
        (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
        s.updatedReplicas === want &&
        (s.replicas ?? 0) === want &&
        s.availableReplicas === want
      );
    });
  }

  /** Waits until a pod of the newest ReplicaSet crashes; returns what it saw. */
  async function waitForCrash(timeoutMs: number): Promise<string> {
    let seen = "";
    await waitFor(
      `a pod of the new revision of ${namespace}/hello to fail`,
      timeoutMs,
      async () => {
        const newest = (await replicaSets("hello")).at(-1);
        const hash = newest?.metadata?.labels?.["pod-template-hash"];
        if (!hash) return false;
        const pods = await core.listNamespacedPod({
          namespace,
          labelSelector: `pod-template-hash=${hash}`,
        });
        for (const pod of pods.items) {
          for (const c of pod.status?.containerStatuses ?? []) {
            const terminated = c.state?.terminated ?? c.lastState?.terminated;
            if (c.state?.waiting?.reason === "CrashLoopBackOff")
              seen = `${pod.metadata?.name}: CrashLoopBackOff`;
            else if (terminated && terminated.exitCode !== 0) {
              seen = `${pod.metadata?.name}: terminated with exit code ${terminated.exitCode}`;
            }
          }
        }
        return seen !== "";
      },
    );
    return seen;
  }

  /** The deployment's ReplicaSets, oldest revision first. */
  async function replicaSets(name: string): Promise<k8s.V1ReplicaSet[]> {
    const d = await apps.readNamespacedDeployment({ name, namespace });
    const list = await apps.listNamespacedReplicaSet({ namespace });
    return list.items
      .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid))
      .sort((a, b) => revision(a) - revision(b));
  }

  /**
   * `kubectl rollout undo` semantics: the ReplicaSet with the revision before
   * the current one supplies the pod template.
   */
  async function undoRollout(name: string): Promise<k8s.V1PodSpec> {
    const d = await apps.readNamespacedDeployment({ name, namespace });
    const current = revision(d);
    const previous = (await replicaSets(name)).filter((rs) => revision(rs) < current).at(-1);
    const template = previous?.spec?.template;
    if (!template?.spec)
      throw new Error(`Deployment ${namespace}/${name} has no revision before ${current}`);
    const labels = { ...template.metadata?.labels };
    delete labels["pod-template-hash"];
    await apps.patchNamespacedDeployment(
      {
        name,
        namespace,
        body: [
          {
            op: "replace",
            path: "/spec/template",
            value: { ...template, metadata: { ...template.metadata, labels } },
          },
        ],
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
    return template.spec;
  }

  async function expectHello(): Promise<void> {
    const d = await apps.readNamespacedDeployment({ name: "hello", namespace });
    const selector = Object.entries(d.spec?.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
    const pod = pods.items.find(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
        p.spec?.containers[0]?.image === GOOD_IMAGE,
    );
    const podName = pod?.metadata?.name;
    if (!podName) throw new Error(`no ready pod of ${namespace}/hello runs ${GOOD_IMAGE}`);
    await using tunnel = await forwardPort(cluster.kubeConfig, {
      namespace,
      pod: podName,
      port: 8080,
    });
    const response = await fetch(tunnel.url, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).to.equal(200);
    expect(await response.text()).to.equal(`hello from ${podName}\n`);
  }
});

function revision(o: { metadata?: k8s.V1ObjectMeta }): number {
  return Number(o.metadata?.annotations?.[REVISION] ?? 0);
}

/** Builds the working and the crashing image on `base` in the local Docker Engine. */
async function buildImages(base: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "testbed-hello-"));
  try {
    await writeFile(path.join(dir, "server.js"), SERVER_JS);
    const common = `FROM ${base}\nCOPY server.js /app/server.js\nUSER 1000\n`;
    await writeFile(path.join(dir, "ok.Dockerfile"), `${common}CMD ["node", "/app/server.js"]\n`);
    await writeFile(
      path.join(dir, "crash.Dockerfile"),
      `${common}CMD ["node", "-e", "console.error('crashing on purpose'); process.exit(1)"]\n`,
    );
    for (const [tag, file] of [
      [GOOD_IMAGE, "ok.Dockerfile"],
      [CRASHING_IMAGE, "crash.Dockerfile"],
    ] as const) {
      await exec("docker", ["build", "-q", "-t", tag, "-f", path.join(dir, file), dir]).catch(
        (cause: unknown) => {
          throw new Error(`docker build of ${tag} from ${base} failed`, { cause });
        },
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Polls `check` every second until it returns true; errors it throws end the wait. */
async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
      last = undefined;
    } catch (error) {
      if (!(error instanceof k8s.ApiException)) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

describe("testbed.sh status: pid files left from before a reboot", function () {
  this.timeout(30_000);
  let dir: string;
  const others: ChildProcess[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "testbed-pids-"));
  });
  after(async () => {
    for (const other of others) other.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  it("calls a component stopped when its old number belongs to another process now, and a live one running", async () => {
    // What CI met on a machine restored from a snapshot: coredns.pid named a
    // process that was not CoreDNS, so `up` waited on a CoreDNS that never ran.
    const live = () => {
      const child = spawn("sleep", ["600"], { stdio: "ignore" });
      others.push(child);
      return child.pid!;
    };
    const pids = path.join(dir, "run/pids");
    await mkdir(pids, { recursive: true });
    const reused = live();
    await writeFile(path.join(pids, "coredns.pid"), `${reused}\n`); // the old, one-field kind
    await writeFile(
      path.join(pids, "etcd.pid"),
      `${reused} 1 00000000-0000-0000-0000-000000000000\n`, // another boot
    );
    // A component that does run: recorded the way `start` records it.
    const running = live();
    await exec("bash", [
      "-c",
      `source "${path.join(path.dirname(TESTBED_SCRIPT), "../lib.sh")}" && pidfile_write "${pids}/containerd.pid" ${running}`,
    ]);
    const { stdout } = await exec("bash", [TESTBED_SCRIPT, "status"], {
      env: {
        ...process.env,
        TESTBED_STATE: path.join(dir, "state"),
        TESTBED_RUNDIR: path.join(dir, "run"),
      },
    });
    const state = (component: string) =>
      stdout
        .split("\n")
        .find((line) => line.startsWith(`${component} `))
        ?.slice(component.length)
        .trim();
    expect(state("coredns"), stdout).to.equal("stopped");
    expect(state("etcd"), stdout).to.equal("stopped");
    expect(state("containerd"), stdout).to.equal(`running (pid ${running})`);
  });
});

describe("testbed.sh build: the binary cache knows what it was built from @slow", function () {
  this.timeout(20 * 60_000); // builds Kubernetes on a machine that has not yet built it
  let cache: string;
  before(async () => {
    await exec("bash", [TESTBED_SCRIPT, "build"], { maxBuffer: 64 * 1024 * 1024 });
    // A copy of the real cache (hard links: a build replaces its folder whole).
    cache = await mkdtemp(path.join(os.tmpdir(), "testbed-cache-"));
    const real = process.env.PIPELINE_CACHE ?? path.join(os.homedir(), ".cache/pipeline-lib");
    await mkdir(path.join(cache, "testbed"));
    await exec("cp", ["-al", ...(await k8sBuilds(real)), path.join(cache, "testbed/")]);
  });
  after(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  it("keeps a build whose sources are unchanged, and rebuilds one whose sources changed", async () => {
    const env = { ...process.env, PIPELINE_CACHE: cache };
    const kept = await exec("bash", [TESTBED_SCRIPT, "build"], { env });
    expect(kept.stderr, "nothing to build").not.to.match(/build/i);

    const [bin] = (await k8sBuilds(cache)).map((dir) => path.join(dir, "bin"));
    await writeFile(path.join(bin!, ".source"), "0123456789abcdef\n");
    // Stopped as soon as it says why it rebuilds: the build itself is the
    // one every testbed test runs.
    const child = spawn("bash", [TESTBED_SCRIPT, "build"], { env, detached: true });
    let stderr = "";
    const said = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/building kubernetes/.test(stderr)) resolve(stderr);
      });
      child.on("exit", () => reject(new Error(`build exited first:\n${stderr}`)));
    }).finally(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // It exited already.
      }
    });
    expect(said).to.include(
      `${bin} was built from other sources than infra/testbed/k8s holds now (0123456789abcdef); rebuilding`,
    );
  });
});

/** The Kubernetes build folders (k8s-<version>) in a cache. */
async function k8sBuilds(cache: string): Promise<string[]> {
  const dir = path.join(cache, "testbed");
  return (await readdir(dir))
    .filter((name) => /^k8s-v[\d.]+$/.test(name))
    .map((name) => path.join(dir, name));
}
