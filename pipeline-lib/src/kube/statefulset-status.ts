import type * as k8s from "@kubernetes/client-node";
import { podFailure, type PodFailure } from "./rollout-status.js";

export interface StatefulSetStatus {
  state: "progressing" | "complete" | "failed";
  /** One line for people: counts and what is being waited on, or why it failed. */
  message: string;
  desired: number;
  updated: number;
  ready: number;
  failure?: PodFailure;
}

/**
 * A StatefulSet's rollout, as `kubectl rollout status statefulset` judges it
 * (RollingUpdate: the controller saw the spec, every replica is on the update
 * revision and ready), failing at once on a pod that waits for a reason that
 * will not pass (CrashLoopBackOff…). Pure: the caller fetches the objects.
 */
export function evaluateStatefulSet(
  statefulSet: k8s.V1StatefulSet,
  pods: readonly k8s.V1Pod[] = [],
): StatefulSetStatus {
  const desired = statefulSet.spec?.replicas ?? 1;
  const status = statefulSet.status;
  const updated = status?.updatedReplicas ?? 0;
  const ready = status?.readyReplicas ?? 0;
  const counts = `${updated}/${desired} updated, ${ready} ready`;
  const failure = pods.map(podFailure).find((f) => f !== undefined);
  if (failure) {
    return {
      state: "failed",
      message: `pod ${failure.pod}: container ${failure.container} is ${failure.reason}: ${failure.message}`,
      desired,
      updated,
      ready,
      failure,
    };
  }
  const observed = (status?.observedGeneration ?? 0) >= (statefulSet.metadata?.generation ?? 0);
  const onDelete = statefulSet.spec?.updateStrategy?.type === "OnDelete";
  const revisionsAgree =
    !status?.updateRevision || status.currentRevision === status.updateRevision;
  const done = observed && ready >= desired && (onDelete || (updated >= desired && revisionsAgree));
  return {
    state: done ? "complete" : "progressing",
    message: done
      ? `rolled out: ${counts}`
      : observed
        ? `${counts}; waiting for the pods of revision ${status?.updateRevision ?? "?"}`
        : "waiting for the controller to see the new spec",
    desired,
    updated,
    ready,
  };
}
