import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { StageError } from "../errors.js";
import type { Reporter } from "../output/reporter.js";
import { requestOptions } from "./kube-json-client.js";
import { labelSelector } from "./label-selector.js";
import { evaluateStatefulSet, type StatefulSetStatus } from "./statefulset-status.js";

/**
 * Waits until a StatefulSet (a data store released with the app, such as
 * Redis) has rolled out, printing its progress, and fails when it stops
 * progressing for `stallMs` or a pod cannot start.
 */
export async function waitForStatefulSet(
  kubeConfig: k8s.KubeConfig,
  options: {
    namespace: string;
    name: string;
    stallMs: number;
    reporter: Reporter;
    signal?: AbortSignal;
    pollMs?: number;
  },
): Promise<StatefulSetStatus> {
  const { namespace, name, stallMs, reporter, signal, pollMs = 1000 } = options;
  const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const ref = `${namespace}/${name}`;
  let progress = "";
  let progressedAt = performance.now();
  let lastLine = "";
  for (;;) {
    signal?.throwIfAborted();
    const request = requestOptions(signal);
    const statefulSet = await apps.readNamespacedStatefulSet({ namespace, name }, request);
    const selector = labelSelector(statefulSet.spec?.selector?.matchLabels ?? {});
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector }, request))
      .items;
    const status = evaluateStatefulSet(statefulSet, pods);
    if (status.state === "complete") {
      reporter.progress(`StatefulSet ${ref}: ${status.message}`);
      return status;
    }
    if (status.state === "failed") {
      throw new StageError(`StatefulSet ${ref} failed to roll out: ${status.message}`);
    }
    if (status.message !== lastLine) {
      reporter.status(`StatefulSet ${ref}: ${status.message}`);
      lastLine = status.message;
    }
    const moved = `${status.updated}/${status.ready}`;
    if (moved !== progress) {
      progress = moved;
      progressedAt = performance.now();
    } else if (performance.now() - progressedAt >= stallMs) {
      throw new StageError(
        `StatefulSet ${ref} made no progress for ${Math.round(stallMs / 1000)}s: ${status.message}`,
      );
    }
    await sleep(pollMs, undefined, { signal });
  }
}
