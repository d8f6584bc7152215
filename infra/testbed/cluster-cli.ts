/**
 * The testbed's API steps, for testbed.sh (which keeps process management,
 * certificates, mounts and iptables):
 *
 *   node infra/testbed/cluster-cli.ts --kubeconfig FILE [options] STEP...
 *
 * Node 24 strips the types itself. tsx would work too, but its loader hooks
 * triple the time it takes to load @kubernetes/client-node (about a thousand
 * modules), and testbed.sh runs this on every `up`. Node resolves only real
 * file names, hence the import of cluster.ts below; cluster.ts must therefore
 * keep to erasable TypeScript (no enums, namespaces or parameter properties).
 *
 * The steps run in order in one process, since loading the client costs a
 * second or so:
 *
 *   node-ready   waits until node --node is Ready (--timeout seconds, default
 *                120); with --watch-pid PID it fails at once when that process
 *                (the kubelet) exits
 *   dns-rbac     applies CoreDNS's ClusterRole system:coredns and binds it to
 *                the user --dns-user (its client certificate's CN)
 *   netpol-rbac  applies the read-only ClusterRole of the NetworkPolicy enforcer
 *                (kube-router's firewall) and binds it to the user --netpol-user
 *   storage      applies the default StorageClass and --pv-count hostPath
 *                PersistentVolumes with their directories in --volumes, and
 *                returns Released volumes to the pool, wiped
 *   node-status  prints the node's readiness (Ready=True, Ready=unregistered, or
 *                why it is unknown) on stdout
 *
 * Progress lines go to stderr as `[testbed +Ns] …`, counted from --log-start
 * (Unix seconds; testbed.sh passes its own start). Exit status: 0, 3 when the
 * node did not get Ready, 2 on bad usage, 1 on any other error.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import type * as Cluster from "./cluster.js";

const {
  ensureDnsRbac,
  ensureNetworkPolicyRbac,
  ensureStorage,
  NodeNotReadyError,
  nodeStatus,
  waitForNodeReady,
} = (await import(new URL("./cluster.ts", import.meta.url).href)) as typeof Cluster;

const STEPS = ["dns-rbac", "netpol-rbac", "node-ready", "storage", "node-status"] as const;
type Step = (typeof STEPS)[number];

class UsageError extends Error {}

/** Unix seconds that the `+Ns` of the progress lines count from. */
let logStart = Date.now() / 1000;
function log(line: string): void {
  process.stderr.write(`[testbed +${Math.floor(Date.now() / 1000 - logStart)}s] ${line}\n`);
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: "string" },
      node: { type: "string" },
      timeout: { type: "string", default: "120" },
      "watch-pid": { type: "string" },
      volumes: { type: "string" },
      "pv-count": { type: "string" },
      "dns-user": { type: "string" },
      "netpol-user": { type: "string" },
      "log-start": { type: "string" },
    },
  });
  const steps = positionals.map((p) => {
    if (!(STEPS as readonly string[]).includes(p)) {
      throw new UsageError(`unknown step ${p} (steps: ${STEPS.join(", ")})`);
    }
    return p as Step;
  });
  if (steps.length === 0) throw new UsageError(`no step given (steps: ${STEPS.join(", ")})`);
  const required = (name: keyof typeof values): string => {
    const value = values[name];
    if (typeof value !== "string" || value === "") throw new UsageError(`--${name} is required`);
    return value;
  };
  const number = (name: keyof typeof values): number => {
    const value = Number(required(name));
    if (!Number.isInteger(value) || value < 0) {
      throw new UsageError(`--${name} must be a whole number`);
    }
    return value;
  };

  if (values["log-start"]) logStart = number("log-start");
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(required("kubeconfig"));

  for (const step of steps) {
    switch (step) {
      case "node-ready": {
        const pid = values["watch-pid"] ? number("watch-pid") : undefined;
        await waitForNodeReady(kubeConfig, required("node"), {
          timeoutMs: number("timeout") * 1000,
          alive: pid === undefined ? undefined : () => processAlive(pid),
          log,
        });
        break;
      }
      case "dns-rbac":
        await ensureDnsRbac(kubeConfig, { user: required("dns-user"), log });
        break;
      case "netpol-rbac":
        await ensureNetworkPolicyRbac(kubeConfig, { user: required("netpol-user"), log });
        break;
      case "storage":
        await ensureStorage(kubeConfig, {
          volumesDir: required("volumes"),
          count: number("pv-count"),
          log,
        });
        break;
      case "node-status":
        process.stdout.write(`${await nodeStatus(kubeConfig, required("node"))}\n`);
        break;
    }
  }
}

/** Whether a process exists and is not a zombie (/proc/PID/stat, state after the name). */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

main(process.argv.slice(2)).then(
  // Leftover keep-alive sockets must not hold testbed.sh up.
  () => process.exit(0),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    log(`error: ${message}`);
    process.exit(error instanceof UsageError ? 2 : error instanceof NodeNotReadyError ? 3 : 1);
  },
);
