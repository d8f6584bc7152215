/**
 * The Kubernetes cluster that deploy tests run against.
 *
 * The environment chooses first: `PIPELINE_KUBE_CONTEXT` names a context of the
 * default kubeconfig (`KUBECONFIG` or ~/.kube/config), and a `KUBECONFIG` alone
 * means its current context (kind, k3d, an EKS test cluster…). With neither, the
 * local testbed is brought up (`testbed.sh up`, idempotent; a cold first run
 * builds Kubernetes, which takes minutes) and its admin kubeconfig is used.
 * Either way a cluster is returned: deploy tests are never skipped.
 *
 * ```ts
 * const cluster = await acquireCluster();
 * await cluster.loadImage("pipeline-local/app:abc123");
 * const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
 * ```
 *
 * The testbed's own API steps live here too (`waitForNodeReady`,
 * `ensureStorage`, `ensureDnsRbac`, `ensureNetworkPolicyRbac`, `nodeStatus`);
 * `testbed.sh` runs them
 * through `cluster-cli.ts`.
 */
import { spawn } from "node:child_process";
import { chmod, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";

export type ClusterSource = "context" | "testbed";

export interface Cluster {
  readonly kubeConfig: k8s.KubeConfig;
  /** "context" when the environment named the cluster, "testbed" for the local one. */
  readonly source: ClusterSource;
  /** The context name, or the testbed's kubeconfig path: for messages. */
  readonly description: string;
  /**
   * Makes an image of the local Docker Engine runnable with
   * `imagePullPolicy: IfNotPresent`. On the testbed this copies it into the
   * node's containerd; for a context cluster it runs the command template in
   * `PIPELINE_KUBE_LOAD_IMAGE` (e.g. `kind load docker-image {ref}`), and fails
   * when there is none, since such a cluster pulls from a registry.
   */
  loadImage(ref: string): Promise<void>;
  /**
   * Lets the nodes pull over plain HTTP from a Registry v2 on a loopback
   * `host:port` (the pipeline's test registry). On the testbed this writes a
   * containerd hosts entry (`testbed.sh trust-registry`); a context cluster's
   * registry configuration is its operator's business, so there it does nothing.
   */
  trustRegistry(host: string): Promise<void>;
  /**
   * For tests that rely on NetworkPolicy being enforced. The testbed enforces
   * it only on request, since only those tests need it: this runs
   * `testbed.sh netpol`, which builds kube-router's firewall when it is missing
   * (a cold build takes minutes; give the calling hook a timeout of 10 minutes
   * or more), starts it and waits until it has synced. Idempotent, and about
   * 2 s once it runs. A context cluster's CNI enforces policies or not, its
   * operator's business, so there it does nothing.
   */
  enforceNetworkPolicy(): Promise<void>;
}

export interface AcquireOptions {
  /** Defaults to `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where the testbed's progress lines go; defaults to stderr. */
  readonly progress?: NodeJS.WritableStream;
}

const testbedScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "testbed.sh");

let testbed: Promise<Cluster> | undefined;

/**
 * Returns the cluster to test against. The testbed is brought up at most once
 * per process; call `testbed.sh down` (or `npm run testbed:down`) to stop it.
 */
export async function acquireCluster(options: AcquireOptions = {}): Promise<Cluster> {
  const env = options.env ?? process.env;
  const context = env.PIPELINE_KUBE_CONTEXT;
  if (context || env.KUBECONFIG) return fromContext(env, context);
  testbed ??= startTestbed(options.progress ?? process.stderr).catch((error: unknown) => {
    testbed = undefined;
    throw error;
  });
  return testbed;
}

function fromContext(env: NodeJS.ProcessEnv, context: string | undefined): Cluster {
  const kubeConfig = new k8s.KubeConfig();
  try {
    kubeConfig.loadFromDefault();
  } catch (cause) {
    throw new Error(
      `cannot load the kubeconfig named by KUBECONFIG (${env.KUBECONFIG ?? "~/.kube/config"})`,
      {
        cause,
      },
    );
  }
  if (context) {
    if (!kubeConfig.getContextObject(context)) {
      const known = kubeConfig.getContexts().map((c) => c.name);
      throw new Error(
        `PIPELINE_KUBE_CONTEXT=${context} is not a context of the kubeconfig (known: ${known.join(", ") || "none"})`,
      );
    }
    kubeConfig.setCurrentContext(context);
  }
  const name = kubeConfig.getCurrentContext();
  const template = env.PIPELINE_KUBE_LOAD_IMAGE;
  return {
    kubeConfig,
    source: "context",
    description: `context ${name}`,
    async loadImage(ref) {
      if (!template) {
        throw new Error(
          `cannot load image ${ref} into context ${name}: set PIPELINE_KUBE_LOAD_IMAGE (e.g. "kind load docker-image {ref}") or push it to a registry the cluster pulls from`,
        );
      }
      await run("sh", ["-c", template.replaceAll("{ref}", shellQuote(ref))], process.stderr);
    },
    async trustRegistry() {},
    async enforceNetworkPolicy() {},
  };
}

async function startTestbed(progress: NodeJS.WritableStream): Promise<Cluster> {
  const stdout = await run("bash", [testbedScript, "up"], progress);
  const kubeconfigPath = stdout.trim().split("\n").at(-1);
  if (!kubeconfigPath) throw new Error(`${testbedScript} up printed no kubeconfig path`);
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return {
    kubeConfig,
    source: "testbed",
    description: `testbed (${kubeconfigPath})`,
    async loadImage(ref) {
      await run("bash", [testbedScript, "load-image", ref], progress);
    },
    async trustRegistry(host) {
      await run("bash", [testbedScript, "trust-registry", host], progress);
    },
    async enforceNetworkPolicy() {
      await run("bash", [testbedScript, "netpol"], progress);
    },
  };
}

/** Runs a command with stderr streamed to `progress`; resolves to its stdout. */
function run(command: string, args: string[], progress: NodeJS.WritableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let tail = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      progress.write(chunk);
      tail = (tail + chunk).slice(-2000);
    });
    child.on("error", (cause) =>
      reject(new Error(`cannot run ${command} ${args.join(" ")}`, { cause })),
    );
    child.on("close", (code, signal) => {
      if (code === 0) resolve(stdout);
      else {
        const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
        reject(new Error(`${command} ${args.join(" ")} ${how}:\n${tail.trimEnd()}`));
      }
    });
  });
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

// ---------------------------------------------------------------------------
// The testbed's API steps. testbed.sh starts the processes; once the API server
// answers, it runs these through cluster-cli.ts.

/** Where the API steps report progress: one line at a time, without a newline. */
export type Log = (line: string) => void;

/** The field manager of the objects that the testbed applies. */
const TESTBED_FIELD_MANAGER = "pipeline-testbed";
/** Like `curl --max-time 10`: no single request may hang a step. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The node did not become Ready: its kubelet exited, or the time ran out. */
export class NodeNotReadyError extends Error {}

/**
 * The status of the node's Ready condition ("True", "False", "Unknown"), or
 * undefined while the kubelet has not registered the node.
 */
export async function nodeReadiness(
  kubeConfig: k8s.KubeConfig,
  name: string,
): Promise<string | undefined> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const node = await orNotFound(request(`GET node ${name}`, core.readNode({ name })));
  if (!node) return undefined;
  return node.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown";
}

/** One line for `testbed.sh status`: `Ready=True`, `Ready=unregistered`, or why it is unknown. */
export async function nodeStatus(kubeConfig: k8s.KubeConfig, name: string): Promise<string> {
  try {
    return `Ready=${(await nodeReadiness(kubeConfig, name)) ?? "unregistered"}`;
  } catch (error) {
    return `unknown (API server not answering: ${messageOf(error)})`;
  }
}

export interface WaitForNodeOptions {
  readonly timeoutMs: number;
  /** Asked before each poll; the wait fails at once when it says no (the kubelet exited). */
  readonly alive?: () => boolean;
  readonly log?: Log;
}

/** Polls the node once a second until it is Ready; throws {@link NodeNotReadyError} otherwise. */
export async function waitForNodeReady(
  kubeConfig: k8s.KubeConfig,
  name: string,
  { timeoutMs, alive = () => true, log = () => {} }: WaitForNodeOptions,
): Promise<void> {
  const what = `node ${name} to be Ready`;
  log(`waiting for ${what}`);
  const start = Date.now();
  for (let polls = 1; ; polls++) {
    if (!alive()) throw new NodeNotReadyError(`the kubelet exited while waiting for ${what}`);
    let state: string;
    try {
      const ready = await nodeReadiness(kubeConfig, name);
      if (ready === "True") return;
      state = ready === undefined ? "not registered yet" : `Ready=${ready}`;
    } catch (error) {
      state = messageOf(error);
    }
    const waited = Math.round((Date.now() - start) / 1000);
    if (Date.now() - start >= timeoutMs) {
      throw new NodeNotReadyError(`node ${name} is not Ready after ${waited}s (${state})`);
    }
    if (polls % 10 === 0) log(`still waiting for ${what} (${waited}s; ${state})`);
    await sleep(1000);
  }
}

export interface StorageOptions {
  /** The folder that holds the volumes' directories. */
  readonly volumesDir: string;
  /** How many PersistentVolumes: `testbed-pv-0` and on. */
  readonly count: number;
  readonly log?: Log;
}

/**
 * Storage for PersistentVolumeClaims: a default StorageClass `standard` and
 * static hostPath PersistentVolumes whose directories any user may write (the
 * app's Redis runs as non-root). Volumes left `Released` by a deleted claim are
 * wiped and returned to the pool. Server-side apply, so it is idempotent.
 */
export async function ensureStorage(
  kubeConfig: k8s.KubeConfig,
  { volumesDir, count, log = () => {} }: StorageOptions,
): Promise<void> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const storage = kubeConfig.makeApiClient(k8s.StorageV1Api);
  const apply = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply);
  const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
  const common = { fieldManager: TESTBED_FIELD_MANAGER, force: true };
  await request(
    "apply StorageClass standard",
    storage.patchStorageClass(
      {
        name: "standard",
        ...common,
        body: {
          apiVersion: "storage.k8s.io/v1",
          kind: "StorageClass",
          metadata: {
            name: "standard",
            annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
          },
          provisioner: "kubernetes.io/no-provisioner",
          volumeBindingMode: "Immediate",
          reclaimPolicy: "Retain",
        } satisfies k8s.V1StorageClass,
      },
      apply,
    ),
  );
  for (let i = 0; i < count; i++) {
    const name = `testbed-pv-${i}`;
    const dir = path.join(volumesDir, name);
    const volume = await orNotFound(
      request(`GET volume ${name}`, core.readPersistentVolume({ name })),
    );
    // A Released volume is wiped, then made Available by clearing its claim
    // reference, as an administrator returns a Retain volume to the pool: the
    // object stays, so no delete and re-create under the same name races the
    // binder's cache. Its folder exists again before any claim can bind it,
    // and the resourceVersion makes the patch fail if it changed since.
    const released = volume?.status?.phase === "Released";
    if (released) {
      log(`recycling released volume ${name}`);
      await rm(dir, { recursive: true, force: true });
    }
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o1777);
    if (released) {
      await request(
        `return volume ${name} to the pool`,
        core.patchPersistentVolume(
          {
            name,
            body: {
              metadata: { resourceVersion: volume.metadata?.resourceVersion },
              spec: { claimRef: null },
            },
          },
          merge,
        ),
      );
    }
    await request(
      `apply volume ${name}`,
      core.patchPersistentVolume(
        {
          name,
          ...common,
          body: {
            apiVersion: "v1",
            kind: "PersistentVolume",
            metadata: { name, labels: { "app.kubernetes.io/managed-by": "pipeline-testbed" } },
            spec: {
              storageClassName: "standard",
              capacity: { storage: "5Gi" },
              accessModes: ["ReadWriteOnce"],
              persistentVolumeReclaimPolicy: "Retain",
              hostPath: { path: dir, type: "Directory" },
            },
          } satisfies k8s.V1PersistentVolume,
        },
        apply,
      ),
    );
  }
}

/** The ClusterRole of the testbed's CoreDNS. */
const DNS_CLUSTER_ROLE = "system:coredns";

/** The ClusterRole of the testbed's NetworkPolicy enforcer (kube-router's firewall). */
const NETPOL_CLUSTER_ROLE = "pipeline-testbed:kube-router";

export interface RbacOptions {
  /** The user that the component's client certificate names (its CN). */
  readonly user: string;
  readonly log?: Log;
}

/**
 * Lets CoreDNS's kubernetes plugin read what it serves: the ClusterRole
 * `system:coredns` of kubeadm's CoreDNS (list and watch of Services,
 * EndpointSlices, Endpoints, Pods and Namespaces; the built-in `system:kube-dns`
 * lacks EndpointSlices and Namespaces, which CoreDNS watches), bound to the
 * user of its client certificate. Server-side apply, so it is idempotent.
 */
export async function ensureDnsRbac(
  kubeConfig: k8s.KubeConfig,
  options: RbacOptions,
): Promise<void> {
  await ensureClusterRoleFor(kubeConfig, DNS_CLUSTER_ROLE, options, [
    {
      apiGroups: [""],
      resources: ["endpoints", "services", "pods", "namespaces"],
      verbs: ["list", "watch"],
    },
    { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
  ]);
}

/**
 * Lets kube-router's network-policy firewall read what it enforces: the pods,
 * namespaces and NetworkPolicies it turns into iptables rules, and the node it
 * runs on (its address). kube-router starts informers for Services,
 * Endpoints and EndpointSlices too, even with its service proxy off, so those
 * are readable as well. Read-only: the firewall writes nothing to the API.
 */
export async function ensureNetworkPolicyRbac(
  kubeConfig: k8s.KubeConfig,
  options: RbacOptions,
): Promise<void> {
  await ensureClusterRoleFor(kubeConfig, NETPOL_CLUSTER_ROLE, options, [
    {
      apiGroups: [""],
      resources: ["namespaces", "pods", "services", "nodes", "endpoints"],
      verbs: ["get", "list", "watch"],
    },
    {
      apiGroups: ["networking.k8s.io"],
      resources: ["networkpolicies"],
      verbs: ["get", "list", "watch"],
    },
    {
      apiGroups: ["discovery.k8s.io"],
      resources: ["endpointslices"],
      verbs: ["get", "list", "watch"],
    },
  ]);
}

/** Applies a ClusterRole with these rules and binds it to the user (server-side apply, idempotent). */
async function ensureClusterRoleFor(
  kubeConfig: k8s.KubeConfig,
  role: string,
  { user, log = () => {} }: RbacOptions,
  rules: k8s.V1PolicyRule[],
): Promise<void> {
  const rbac = kubeConfig.makeApiClient(k8s.RbacAuthorizationV1Api);
  const apply = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply);
  const common = { name: role, fieldManager: TESTBED_FIELD_MANAGER, force: true };
  const labels = { "app.kubernetes.io/managed-by": "pipeline-testbed" };
  log(`applying ClusterRole and ClusterRoleBinding ${role} for user ${user}`);
  await request(
    `apply ClusterRole ${role}`,
    rbac.patchClusterRole(
      {
        ...common,
        body: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: role, labels },
          rules,
        } satisfies k8s.V1ClusterRole,
      },
      apply,
    ),
  );
  await request(
    `apply ClusterRoleBinding ${role}`,
    rbac.patchClusterRoleBinding(
      {
        ...common,
        body: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: role, labels },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
        } satisfies k8s.V1ClusterRoleBinding,
      },
      apply,
    ),
  );
}

/** A request that fails after {@link REQUEST_TIMEOUT_MS}, naming what it did. */
async function request<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${REQUEST_TIMEOUT_MS / 1000}s`)),
      REQUEST_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The object, or undefined when the API server says 404. */
async function orNotFound<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof k8s.ApiException && error.code === 404) return undefined;
    throw error;
  }
}

function messageOf(error: unknown): string {
  if (error instanceof k8s.ApiException) return `HTTP ${error.code}`;
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return typeof cause?.code === "string" ? `${message} (${cause.code})` : message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
