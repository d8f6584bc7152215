import * as k8s from "@kubernetes/client-node";
import { StageError } from "../errors.js";
import { ChangeWaker } from "./change-waker.js";
import { systemClock, type Clock, type Reporter } from "../output/reporter.js";
import { KubeApiError, toKubeApiError } from "./kube-api-error.js";
import { requestOptions } from "./kube-json-client.js";
import { labelSelector } from "./label-selector.js";
import {
  evaluateRollout,
  isPodReady,
  newReplicaSet,
  POD_TEMPLATE_HASH_LABEL,
  type RolloutStatus,
} from "./rollout-status.js";

/** How many lines of a failing container's log a RolloutFailure carries. */
export const LOG_TAIL_LINES = 20;
/** A progress line is repeated this often even when nothing changed, so a log shows life. */
const REPEAT_MS = 10_000;

export interface WaitForRolloutOptions {
  namespace: string;
  /** The Deployment's name. */
  name: string;
  /** The last guard: however it progresses, a rollout that takes longer fails. */
  timeoutMs: number;
  /**
   * Fails the rollout when nothing moved (no replica of the new revision
   * updated, ready or available) for this long, as `kubectl rollout status`
   * does with progressDeadlineSeconds; the Deployment's own deadline
   * (ProgressDeadlineExceeded) fails it too. Default: timeoutMs.
   */
  stallMs?: number;
  reporter: Reporter;
  /** Stops the wait (Ctrl-C, an aborted build). */
  signal?: AbortSignal;
  pollMs?: number;
  clock?: Clock;
  /**
   * How long an image pull may keep failing before the rollout fails. A
   * kubelet may fail its first pull in a new namespace (the pull secret is
   * not in its cache yet) and succeed on the retry; a wrong image or wrong
   * credentials fail every retry.
   */
  pullGraceMs?: number;
}

const PULL_REASONS = new Set(["ErrImagePull", "ImagePullBackOff"]);
/**
 * The kubelet reads a pod's pull secret only once the API server's node
 * authorizer has linked the new pod to it; until then it pulls without
 * credentials and gets 401. That link can lag by seconds on a busy control
 * plane, and the kubelet backs off 10 s, then 20 s, between pulls: 45 s covers
 * three attempts and is still far inside any rollout deadline.
 */
export const PULL_GRACE_MS = 45_000;

/** Why a rollout failed, with what a person needs to see without kubectl. Exit code 1. */
export class RolloutFailure extends StageError {
  /** `test/app` */
  readonly deployment: string;
  /** The pod that failed it, or the one still not ready when time ran out. */
  readonly pod: string | undefined;
  readonly container: string | undefined;
  /** CrashLoopBackOff, ImagePullBackOff…, ProgressDeadlineExceeded, or Timeout. */
  readonly reason: string;
  /** The last lines of that container's log (its previous instance after a crash). */
  readonly logTail: readonly string[];
  readonly status: RolloutStatus;

  constructor(init: {
    deployment: string;
    pod?: string;
    container?: string;
    reason: string;
    /** What happened, after "Deployment <ref> ". */
    summary: string;
    logTail?: readonly string[];
    logSource?: string;
    event?: string;
    /**
     * Other pods of the namespace that are not ready, each described in one
     * line: what an app that never gets ready is often waiting on (its Redis
     * Pending for want of a volume, say).
     */
    othersNotReady?: readonly string[];
    status: RolloutStatus;
  }) {
    const logTail = init.logTail ?? [];
    const lines = [`Deployment ${init.deployment} ${init.summary}`];
    if (init.event) lines.push(`last warning event of pod ${init.pod}: ${init.event}`);
    if (init.othersNotReady?.length) {
      lines.push("other pods in the namespace that are not ready (what it may be waiting on):");
      lines.push(...init.othersNotReady.map((line) => `  - ${line}`));
    }
    if (logTail.length > 0) {
      lines.push(`last ${logTail.length} log lines of ${init.logSource}:`);
      lines.push(...logTail.map((line) => `  | ${line}`));
    } else if (init.logSource) {
      lines.push(`${init.logSource} logged nothing`);
    }
    super(lines.join("\n"));
    this.deployment = init.deployment;
    this.pod = init.pod;
    this.container = init.container;
    this.reason = init.reason;
    this.logTail = logTail;
    this.status = init.status;
  }
}

/**
 * Polls the Deployment, its ReplicaSets and the pods of its new revision until
 * the rollout completes (every `pollMs`, and at once when a watch sees the
 * Deployment change) (resolves with the final status), fails (a
 * RolloutFailure, at once when a new pod crash-loops or cannot pull its image),
 * or `timeoutMs` passes (a RolloutFailure with reason Timeout). Progress lines
 * go to the reporter when something changes, and at least every 10 s.
 */
export async function waitForRollout(
  kubeConfig: k8s.KubeConfig,
  options: WaitForRolloutOptions,
): Promise<RolloutStatus> {
  const { namespace, name, timeoutMs, reporter, signal, pollMs = 1000 } = options;
  const pullGraceMs = options.pullGraceMs ?? PULL_GRACE_MS;
  /** When each failing pull (pod/container) was first seen. */
  const pullFailingSince = new Map<string, number>();
  const clock = options.clock ?? systemClock;
  const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const ref = `${namespace}/${name}`;
  const deadline = clock.now() + timeoutMs;
  const stallMs = options.stallMs ?? timeoutMs;
  let progress = "";
  let progressedAt = clock.now();
  let lastLine = "";
  let lastPrinted = -Infinity;
  let lastStatus: RolloutStatus | undefined;
  let transient: unknown;
  using changes = ChangeWaker.start(
    kubeConfig,
    `/apis/apps/v1/namespaces/${namespace}/deployments`,
    name,
  );

  for (;;) {
    throwIfAborted(signal, ref);
    try {
      const status = await observe();
      transient = undefined;
      lastStatus = status;
      if (status.state === "complete") {
        reporter.progress(`Deployment ${ref}: ${status.message}`);
        return status;
      }
      const now = clock.now();
      const pull =
        status.failure && PULL_REASONS.has(status.failure.reason) ? status.failure : undefined;
      const pullKey = pull ? `${pull.pod}/${pull.container}` : undefined;
      if (pullKey && !pullFailingSince.has(pullKey)) pullFailingSince.set(pullKey, now);
      for (const key of pullFailingSince.keys()) if (key !== pullKey) pullFailingSince.delete(key);
      const pullStillInGrace =
        pullKey !== undefined && now - pullFailingSince.get(pullKey)! < pullGraceMs;
      if (status.state === "failed" && !pullStillInGrace) {
        throw await failure(status, `failed to roll out: ${status.message}`);
      }
      // A slow rollout that keeps moving (3 to 10 pods, one at a time) is not a failed one.
      // Past the deadline, the timeout below is what to report, whether or not it also stalled.
      const moved = `${status.revision}/${status.updated}/${status.ready}/${status.available}`;
      if (moved !== progress) {
        progress = moved;
        progressedAt = now;
      } else if (now - progressedAt >= stallMs && now < deadline) {
        throw await failure(
          status,
          `made no progress for ${seconds(stallMs)}: ${status.message}`,
          "Timeout",
        );
      }
      if (status.message !== lastLine || now - lastPrinted >= REPEAT_MS) {
        reporter.status(`Deployment ${ref}: ${status.message}`);
        lastLine = status.message;
        lastPrinted = now;
      }
    } catch (error) {
      if (error instanceof RolloutFailure || signal?.aborted) throw rethrow(error, signal, ref);
      if (error instanceof StageError) throw error;
      if (!isTransient(error)) {
        const cause = toKubeApiError(error);
        throw new StageError(
          `reading the rollout of Deployment ${ref} failed: ${messageOf(cause)}`,
          { cause },
        );
      }
      if (transient === undefined) {
        reporter.warn(
          `reading the rollout of Deployment ${ref} failed, retrying: ${messageOf(error)}`,
        );
      }
      transient = error;
    }
    if (clock.now() >= deadline) {
      if (!lastStatus) {
        throw new StageError(
          `could not read the rollout of Deployment ${ref} within ${timeoutMs} ms`,
          { cause: transient },
        );
      }
      throw await failure(
        lastStatus,
        `did not roll out within ${seconds(timeoutMs)}: ${lastStatus.message}`,
        "Timeout",
      );
    }
    try {
      await changes.sleep(Math.min(pollMs, Math.max(0, deadline - clock.now())), signal);
    } catch (error) {
      throw rethrow(error, signal, ref);
    }
  }

  async function observe(): Promise<RolloutStatus> {
    const request = requestOptions(signal);
    const deployment = await apps
      .readNamespacedDeployment({ namespace, name }, request)
      .catch((error: unknown) => {
        const cause = toKubeApiError(error);
        if (cause instanceof KubeApiError && cause.code === 404) {
          throw new StageError(`Deployment ${ref} does not exist`, { cause });
        }
        throw cause;
      });
    const selector = labelSelector(deployment.spec?.selector.matchLabels ?? {});
    const replicaSets = (
      await apps.listNamespacedReplicaSet({ namespace, labelSelector: selector }, request)
    ).items;
    const hash = newReplicaSet(deployment, replicaSets)?.metadata?.labels?.[
      POD_TEMPLATE_HASH_LABEL
    ];
    const pods = hash
      ? (
          await core.listNamespacedPod(
            {
              namespace,
              labelSelector: [selector, `${POD_TEMPLATE_HASH_LABEL}=${hash}`]
                .filter(Boolean)
                .join(","),
            },
            request,
          )
        ).items
      : [];
    return evaluateRollout(deployment, { replicaSets, pods });
  }

  /** A RolloutFailure with the failing (or unready) pod's log tail and last warning. */
  async function failure(status: RolloutStatus, summary: string, reason?: string) {
    const pod = status.failure?.pod ?? status.waitingFor;
    const container = status.failure?.container ?? (pod ? await firstContainer(pod) : undefined);
    // After a crash the current instance is the one waiting to restart: read the one that died.
    const previous = status.failure?.reason === "CrashLoopBackOff";
    const pulling = status.failure && /Image|InvalidImageName/.test(status.failure.reason);
    const logTail =
      pod && container && !pulling ? await readLogTail(pod, container, previous) : undefined;
    return new RolloutFailure({
      deployment: ref,
      pod,
      container,
      reason:
        reason ??
        status.failure?.reason ??
        (status.deadlineExceeded ? "ProgressDeadlineExceeded" : "Failed"),
      summary,
      logTail: logTail?.lines,
      logSource: logTail?.source,
      event: pod && !status.failure ? await lastWarning(pod) : undefined,
      othersNotReady: status.failure ? undefined : await othersNotReady(),
      status,
    });
  }

  /** The namespace's other pods that are not ready, and why, one line each. */
  async function othersNotReady(): Promise<string[] | undefined> {
    try {
      const pods = await core.listNamespacedPod({ namespace }, requestOptions());
      return pods.items
        .filter(
          (p) => !ownedByThisDeployment(p) && p.status?.phase !== "Succeeded" && !isPodReady(p),
        )
        .map((p) => `${p.metadata?.name}: ${whyNotReady(p)}`);
    } catch {
      return undefined;
    }
  }

  function ownedByThisDeployment(pod: k8s.V1Pod): boolean {
    return (pod.metadata?.ownerReferences ?? []).some(
      (o) => o.kind === "ReplicaSet" && o.name.startsWith(`${name}-`),
    );
  }

  async function readLogTail(
    pod: string,
    container: string,
    previous: boolean,
  ): Promise<{ lines: string[]; source: string } | undefined> {
    const attempts = previous ? [true, false] : [false];
    for (const prev of attempts) {
      try {
        const text = await core.readNamespacedPodLog(
          { namespace, name: pod, container, previous: prev, tailLines: LOG_TAIL_LINES },
          requestOptions(undefined, 10_000),
        );
        const source = `pod ${pod} container ${container}${prev ? " (previous instance)" : ""}`;
        return { lines: tailOf(String(text)), source };
      } catch {
        // No previous instance yet, or the container never started: try the next, or go without.
      }
    }
    return undefined;
  }

  async function firstContainer(pod: string): Promise<string | undefined> {
    try {
      const p = await core.readNamespacedPod({ namespace, name: pod }, requestOptions());
      const notReady = p.status?.containerStatuses?.find((s) => !s.ready)?.name;
      return notReady ?? p.spec?.containers[0]?.name;
    } catch {
      return undefined;
    }
  }

  async function lastWarning(pod: string): Promise<string | undefined> {
    try {
      const events = await core.listNamespacedEvent(
        {
          namespace,
          fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${pod},type=Warning`,
        },
        requestOptions(),
      );
      const latest = events.items
        .map((e) => ({ e, at: eventTime(e) }))
        .sort((a, b) => a.at - b.at)
        .at(-1)?.e;
      return latest ? `${latest.reason}: ${latest.message?.trim()}` : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Pending and why it is not scheduled, a container's waiting reason, or "running, not ready". */
function whyNotReady(pod: k8s.V1Pod): string {
  const phase = pod.status?.phase ?? "Unknown";
  const unscheduled = (pod.status?.conditions ?? []).find(
    (c) => c.type === "PodScheduled" && c.status === "False",
  );
  if (unscheduled) return `${phase}, not scheduled: ${unscheduled.message ?? unscheduled.reason}`;
  const waiting = (pod.status?.containerStatuses ?? []).find((c) => c.state?.waiting)?.state
    ?.waiting;
  if (waiting) return `${phase}, ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
  return phase === "Running" ? "running, not ready" : phase;
}

function tailOf(text: string): string[] {
  const lines = text.replace(/\n$/, "").split("\n");
  return text.trim() ? lines.slice(-LOG_TAIL_LINES) : [];
}

function eventTime(event: k8s.CoreV1Event): number {
  const at = event.lastTimestamp ?? event.eventTime ?? event.metadata.creationTimestamp;
  return at ? new Date(at).getTime() : 0;
}

/** Network trouble and an overloaded server pass; a refusal (403, 404…) or a bug does not. */
function isTransient(error: unknown): boolean {
  const cause = toKubeApiError(error);
  if (cause instanceof KubeApiError) return cause.code >= 500 || cause.code === 429;
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === "TimeoutError" || e.message === "fetch failed") return true;
    if (typeof (e as NodeJS.ErrnoException).code === "string") return true;
  }
  return false;
}

function throwIfAborted(signal: AbortSignal | undefined, ref: string): void {
  if (signal?.aborted) throw rethrow(signal.reason, signal, ref);
}

function rethrow(error: unknown, signal: AbortSignal | undefined, ref: string): unknown {
  if (signal?.aborted && !(error instanceof RolloutFailure)) {
    return new StageError(`stopped waiting for the rollout of Deployment ${ref}`, {
      cause: signal.reason,
    });
  }
  return error;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
