import type * as k8s from "@kubernetes/client-node";

export const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";
export const POD_TEMPLATE_HASH_LABEL = "pod-template-hash";

/**
 * Container waiting reasons that will not fix themselves by waiting: the
 * rollout is failed as soon as a pod of the new revision shows one, instead of
 * when the progress deadline (10 minutes by default) runs out. kubectl rollout
 * status does not do this (kubernetes/kubectl#738).
 */
export const FAILING_WAIT_REASONS: ReadonlySet<string> = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImagePull",
  "CreateContainerConfigError",
  "InvalidImageName",
  "CreateContainerError",
  "RunContainerError",
]);

export type RolloutState = "progressing" | "complete" | "failed";

/** A container of a pod of the new revision that cannot start or keeps crashing. */
export interface PodFailure {
  pod: string;
  container: string;
  initContainer: boolean;
  /** The waiting reason: CrashLoopBackOff, ImagePullBackOff… */
  reason: string;
  message: string;
  restartCount: number;
}

export interface RolloutStatus {
  state: RolloutState;
  /**
   * One line for people, without the Deployment's name: counts and what is
   * being waited on, or why it failed.
   */
  message: string;
  /** spec.replicas */
  desired: number;
  updated: number;
  ready: number;
  available: number;
  /** The Deployment's revision, once its controller has made the ReplicaSet for it. */
  revision?: number;
  /** The ReplicaSet of that revision. */
  replicaSet?: string;
  /** Set when a pod of the new revision failed the rollout. */
  failure?: PodFailure;
  /** A pod of the new revision that is not ready yet. */
  waitingFor?: string;
  /** Set when the Deployment's Progressing condition says its deadline passed. */
  deadlineExceeded?: boolean;
}

export interface RolloutObservation {
  /** The namespace's ReplicaSets (those of other Deployments are ignored). */
  replicaSets?: readonly k8s.V1ReplicaSet[];
  /** Pods; only those of the new ReplicaSet are looked at. */
  pods?: readonly k8s.V1Pod[];
}

/**
 * The state of a Deployment's rollout, with the semantics of `kubectl rollout
 * status` (observedGeneration, the Progressing condition's
 * ProgressDeadlineExceeded, updated / old / available replicas), plus a fast
 * failure when a pod of the new revision waits for a reason in
 * FAILING_WAIT_REASONS. Pure: the caller fetches the objects.
 */
export function evaluateRollout(
  deployment: k8s.V1Deployment,
  { replicaSets = [], pods = [] }: RolloutObservation = {},
): RolloutStatus {
  const status = deployment.status ?? {};
  const counts = {
    desired: deployment.spec?.replicas ?? 1,
    updated: status.updatedReplicas ?? 0,
    ready: status.readyReplicas ?? 0,
    available: status.availableReplicas ?? 0,
  };
  const total = status.replicas ?? 0;
  const summary = `${counts.updated}/${counts.desired} updated, ${counts.ready} ready, ${counts.available} available`;
  const generation = deployment.metadata?.generation ?? 0;
  const observed = status.observedGeneration ?? 0;
  if (generation > observed) {
    return {
      state: "progressing",
      message: `waiting for the deployment controller to see generation ${generation} (it has seen ${observed})`,
      ...counts,
    };
  }

  const newRs = newReplicaSet(deployment, replicaSets);
  const revision = newRs ? revisionOf(newRs) : undefined;
  const replicaSet = newRs?.metadata?.name;
  const newPods = newRs ? podsOf(newRs, pods) : [];
  const waitingFor = newPods.find((pod) => !isPodReady(pod))?.metadata?.name;
  const base = { ...counts, revision, replicaSet, waitingFor };

  const progressing = status.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    const deadline = deployment.spec?.progressDeadlineSeconds ?? 600;
    return {
      state: "failed",
      message: `exceeded its progress deadline (${deadline}s): ${progressing.message ?? summary}`,
      deadlineExceeded: true,
      ...base,
    };
  }
  for (const pod of newPods) {
    const failure = podFailure(pod);
    if (failure) {
      const which = failure.initContainer ? "init container" : "container";
      return {
        state: "failed",
        message: `pod ${failure.pod} of revision ${revision}: ${which} ${failure.container} is ${failure.reason}: ${failure.message}`,
        failure,
        ...base,
      };
    }
  }
  const waitingMessage = waitingFor
    ? `waiting for pod ${waitingFor} to become ready${podWaitReason(newPods, waitingFor)}`
    : undefined;
  if (counts.updated < counts.desired) {
    const more = `waiting for ${counts.desired - counts.updated} more updated replica(s)`;
    return { state: "progressing", message: `${summary}; ${waitingMessage ?? more}`, ...base };
  }
  if (total > counts.updated) {
    return {
      state: "progressing",
      message: `${summary}; waiting for ${total - counts.updated} old replica(s) to terminate`,
      ...base,
    };
  }
  if (counts.available < counts.updated) {
    const more = `waiting for ${counts.updated - counts.available} updated replica(s) to become available`;
    return { state: "progressing", message: `${summary}; ${waitingMessage ?? more}`, ...base };
  }
  return {
    state: "complete",
    message: `rolled out${revision ? ` revision ${revision}` : ""}: ${summary}`,
    ...base,
    waitingFor: undefined,
  };
}

/**
 * The ReplicaSet of the Deployment's current revision: owned by it, with the
 * revision annotation the Deployment carries. A rollback reuses an old
 * ReplicaSet, whose annotation the controller then raises to the new number.
 */
export function newReplicaSet(
  deployment: k8s.V1Deployment,
  replicaSets: readonly k8s.V1ReplicaSet[],
): k8s.V1ReplicaSet | undefined {
  const revision = deployment.metadata?.annotations?.[REVISION_ANNOTATION];
  if (!revision) return undefined;
  return replicaSets.find(
    (rs) => ownedBy(rs, deployment) && rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision,
  );
}

/** The first container (init containers first) waiting for a reason that will not pass. */
export function podFailure(pod: k8s.V1Pod): PodFailure | undefined {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []).map((s) => ({ s, init: true })),
    ...(pod.status?.containerStatuses ?? []).map((s) => ({ s, init: false })),
  ];
  for (const { s, init } of statuses) {
    const waiting = s.state?.waiting;
    if (!waiting?.reason || !FAILING_WAIT_REASONS.has(waiting.reason)) continue;
    const last = s.lastState?.terminated;
    const exit = last
      ? `last run exited with code ${last.exitCode}${last.reason ? ` (${last.reason})` : ""}`
      : undefined;
    return {
      pod: pod.metadata?.name ?? "(unnamed pod)",
      container: s.name,
      initContainer: init,
      reason: waiting.reason,
      message: [waiting.message, exit].filter(Boolean).join("; ") || waiting.reason,
      restartCount: s.restartCount,
    };
  }
  return undefined;
}

export function revisionOf(object: { metadata?: k8s.V1ObjectMeta }): number {
  return Number(object.metadata?.annotations?.[REVISION_ANNOTATION] ?? 0) || 0;
}

export function isPodReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

function ownedBy(rs: k8s.V1ReplicaSet, deployment: k8s.V1Deployment): boolean {
  const uid = deployment.metadata?.uid;
  const owners = rs.metadata?.ownerReferences;
  // Without uids (tests, dry runs) the namespace's ReplicaSets are taken as given.
  if (!uid || !owners) return true;
  return owners.some((o) => o.uid === uid);
}

/** The live pods of a ReplicaSet, by its pod-template-hash label. */
function podsOf(rs: k8s.V1ReplicaSet, pods: readonly k8s.V1Pod[]): k8s.V1Pod[] {
  const hash = rs.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];
  if (!hash) return [];
  return pods.filter(
    (pod) =>
      pod.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] === hash && !pod.metadata?.deletionTimestamp,
  );
}

/** " (ContainerCreating)", " (Running, not ready)"… for the pod being waited on. */
function podWaitReason(pods: readonly k8s.V1Pod[], name: string): string {
  const pod = pods.find((p) => p.metadata?.name === name);
  const statuses = [
    ...(pod?.status?.initContainerStatuses ?? []),
    ...(pod?.status?.containerStatuses ?? []),
  ];
  const waiting = statuses.find((s) => s.state?.waiting?.reason)?.state?.waiting?.reason;
  if (waiting) return ` (${waiting})`;
  if (statuses.some((s) => s.state?.running && !s.ready)) return " (running, not ready)";
  const phase = pod?.status?.phase;
  return phase ? ` (${phase})` : "";
}
