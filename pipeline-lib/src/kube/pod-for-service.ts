import * as k8s from "@kubernetes/client-node";
import { StageError } from "../errors.js";
import { KubeApiError, toKubeApiError } from "./kube-api-error.js";
import { requestOptions } from "./kube-json-client.js";
import { labelSelector } from "./label-selector.js";
import { isPodReady } from "./rollout-status.js";

/** A Ready pod behind a Service, and the pod port that a Service port sends to. */
export interface ServiceBackend {
  pod: string;
  /** The container port (a named targetPort resolved through the pod's containers). */
  port: number;
}

export interface PodForServiceOptions {
  /** The Service port, by number or name; its first port by default. */
  port?: number | string;
  signal?: AbortSignal;
}

/**
 * Picks a Ready, not terminating pod that the Service selects (the newest
 * one, which after a rollout runs the new revision), as `kubectl port-forward
 * service/x` does, and resolves the Service port to the pod's port, so that
 * forwardPort() can reach what the Service would.
 */
export async function podForService(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  serviceName: string,
  { port, signal }: PodForServiceOptions = {},
): Promise<ServiceBackend> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const ref = `Service ${namespace}/${serviceName}`;
  const service = await core
    .readNamespacedService({ namespace, name: serviceName }, requestOptions(signal))
    .catch((error: unknown) => {
      const cause = toKubeApiError(error);
      if (cause instanceof KubeApiError && cause.code === 404) {
        throw new StageError(`${ref} does not exist`, { cause });
      }
      throw cause;
    });
  const selector = service.spec?.selector ?? {};
  if (Object.keys(selector).length === 0) {
    throw new StageError(`${ref} has no selector, so no pod is behind it`);
  }
  const servicePorts = service.spec?.ports ?? [];
  const servicePort =
    port === undefined
      ? servicePorts[0]
      : servicePorts.find((p) => p.port === port || (p.name !== undefined && p.name === port));
  if (!servicePort) {
    const known = servicePorts.map((p) => (p.name ? `${p.name} (${p.port})` : String(p.port)));
    throw new StageError(
      port === undefined
        ? `${ref} has no ports`
        : `${ref} has no port ${port}; its ports: ${known.join(", ") || "none"}`,
    );
  }
  const pods = (
    await core.listNamespacedPod(
      { namespace, labelSelector: labelSelector(selector) },
      requestOptions(signal),
    )
  ).items;
  const ready = pods
    .filter((pod) => !pod.metadata?.deletionTimestamp && isPodReady(pod))
    .sort((a, b) => created(b) - created(a));
  const pod = ready[0];
  if (!pod?.metadata?.name) {
    const states = pods.map(
      (p) => `${p.metadata?.name} (${p.status?.phase ?? "unknown"}, not ready)`,
    );
    throw new StageError(
      `no Ready pod behind ${ref} (selector ${labelSelector(selector)})` +
        (states.length > 0 ? `: ${states.join(", ")}` : ": it selects no pods"),
    );
  }
  return { pod: pod.metadata.name, port: targetPort(pod, servicePort, ref) };
}

function targetPort(pod: k8s.V1Pod, servicePort: k8s.V1ServicePort, ref: string): number {
  const target = servicePort.targetPort ?? servicePort.port;
  if (typeof target === "number") return target;
  if (/^\d+$/.test(target)) return Number(target);
  const named = pod.spec?.containers
    .flatMap((c) => c.ports ?? [])
    .find((p) => p.name === target)?.containerPort;
  if (named === undefined) {
    throw new StageError(
      `${ref} sends port ${servicePort.port} to the port named ${target}, which no container of pod ${pod.metadata?.name} declares`,
    );
  }
  return named;
}

function created(pod: k8s.V1Pod): number {
  const at = pod.metadata?.creationTimestamp;
  return at ? new Date(at).getTime() : 0;
}
