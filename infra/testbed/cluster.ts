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
 */
import { spawn } from "node:child_process";
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
