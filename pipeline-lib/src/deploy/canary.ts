import * as k8s from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { StrategyConfig } from "../config/schema.js";
import type { ContractCheck } from "../contract/contract-checks.js";
import { ConfigError, StageError } from "../errors.js";
import { NotReadOnly, getFromPod, serviceProxyFetch } from "../kube/api-proxy.js";
import { applyObjects } from "../kube/apply.js";
import { statusCodeOf } from "../kube/kube-api-error.js";
import { requestOptions } from "../kube/kube-json-client.js";
import { labelSelector } from "../kube/label-selector.js";
import { isPodReady } from "../kube/rollout-status.js";
import { waitForRollout } from "../kube/wait-for-rollout.js";
import { systemClock, type Clock, type Reporter } from "../output/reporter.js";
import {
  canaryReplicas,
  increaseSince,
  judge,
  requestHistogram,
  trackStats,
  type HistogramSpec,
  type RequestHistogram,
  type TrackStats,
} from "./canary-analysis.js";
import {
  CANARY_ANNOTATIONS,
  TRACK_LABEL,
  appendOutcome,
  describeStep,
  parseRecord,
  writeRun,
  type CanaryRecord,
  type CanaryStepRecord,
} from "./canary-record.js";
import type { EnvironmentTarget } from "./environment-target.js";
import { readDeployment } from "./read-deployment.js";

/** The canary Deployment beside the app's: `<deployment>-canary`. */
export const canaryName = (deployment: string) => `${deployment}-canary`;

/** The app's Service, reached through the API server for the optional load. */
export interface ServiceRef {
  name: string;
  port: string | number;
}

export interface CanaryLoad {
  checks: ContractCheck[];
  ratePerSecond: number;
  concurrency: number;
}

export interface CanaryRunOptions {
  target: EnvironmentTarget;
  strategy: StrategyConfig;
  /** The rendered app Deployment of the new release (its pod template is the canary's). */
  deployment: k8s.V1Deployment;
  /** The port the app serves its metrics on. */
  appPort: number;
  /** Routes never counted: the health checks and the metrics path. */
  ignoreRoutes: string[];
  record: CanaryRecord;
  service?: ServiceRef | undefined;
  load?: CanaryLoad | undefined;
  reporter: Reporter;
  /** Stops the canary (Ctrl-C, an aborted build, a lost lock); it is removed unless the lock was lost. */
  signal: AbortSignal;
  /** Aborted when the deploy lock was taken over: the new holder removes the canary, not this run. */
  lockLost?: AbortSignal | undefined;
  /** Right before anything is changed: throws when the deploy lock is no longer ours. */
  confirmHeld: () => Promise<void>;
  /** How long the canary's pods may take to make progress before the step fails. */
  stallMs: number;
  /** The wall clock, for the times recorded; windows are timed by the monotonic clock. */
  clock?: Clock;
  /** Milliseconds that only go forward (performance.now by default): a step's window. */
  monotonic?: () => number;
}

/** How a canary ended: `passed` is ready to promote; any other is removed already. */
export interface CanaryResult {
  passed: boolean;
  record: CanaryRecord;
}

/** A canary that ended without passing, with the numbers. Exit code 1. */
export class CanaryFailed extends StageError {}

interface PodView {
  name: string;
  track: "canary" | "stable";
  restarts: number;
  lastTermination: string | undefined;
}

/**
 * Runs the new release as a canary beside the stable one, step by step, and
 * judges each step from every pod's request histogram (read through the API
 * server's pod proxy): the canary's 5xx share and p99 against the stable
 * pods' over the same window. Resolves with passed: true when every step
 * passed (the caller promotes); otherwise the canary is removed, the outcome
 * recorded on the app's Deployment, and it resolves with passed: false (an
 * interruption throws after the removal, as the caller's signal says).
 */
export async function runCanary(options: CanaryRunOptions): Promise<CanaryResult> {
  const { target, strategy, reporter, signal } = options;
  const { kubeConfig, namespace } = target;
  const clock = options.clock ?? systemClock;
  const stable = String(options.deployment.metadata?.name);
  const name = canaryName(stable);
  const record = options.record;
  const steps = strategy.steps;
  const live = await readDeployment(kubeConfig, namespace, stable);
  const stableReplicas = live?.spec?.replicas ?? 1;
  const selector = { ...options.deployment.spec?.selector?.matchLabels };
  const spec: HistogramSpec = {
    histogram: strategy.analysis.histogram,
    statusLabel: strategy.analysis.statusLabel,
    routeLabel: strategy.analysis.routeLabel,
    ignoreRoutes: new Set([...options.ignoreRoutes, ...strategy.analysis.ignoreRoutes]),
  };

  const end = async (
    outcome: "failed" | "inconclusive" | "interrupted",
    summary: string,
  ): Promise<CanaryResult> => {
    record.outcome = outcome;
    record.summary = summary;
    record.endedAt = new Date(clock.now()).toISOString();
    await removeCanary(target, stable, reporter);
    await appendOutcome(kubeConfig, namespace, stable, record);
    return { passed: false, record };
  };

  // Read-only load: each named check once against the stable release first,
  // so that a check that writes is refused before anything is changed.
  const service = options.service;
  const load =
    options.load && service
      ? new LoadLoop(
          options.load,
          serviceProxyFetch(kubeConfig, namespace, service.name, service.port),
        )
      : undefined;
  if (options.load && !service) {
    reporter.warn(
      "strategy.load is set, but no Service in the manifests selects the app's pods: the canary runs without load",
    );
  }
  if (load) {
    reporter.progress(
      `canary load: ${options.load!.checks.map((c) => c.name).join(", ")} at up to ${options.load!.ratePerSecond}/s ` +
        `through Service ${namespace}/${service!.name} (read-only: GET and HEAD only)`,
    );
    await load.preflight();
  }

  reporter.progress(
    `canary of ${record.image}: ${steps.map((s) => `${s.weight}% for ${s.seconds} s`).join(", then ")}, ` +
      `beside ${stableReplicas} stable ${stableReplicas === 1 ? "pod" : "pods"}; judged on the ${spec.histogram} ` +
      `histogram (5xx share at most +${(strategy.analysis.maxErrorRateIncrease * 100).toFixed(1)} points, ` +
      `p99 at most +${strategy.analysis.maxP99IncreaseMs} ms, at least ${strategy.analysis.minRequests} requests each side)`,
  );
  try {
    for (const [index, step] of steps.entries()) {
      const number = index + 1;
      const replicas = canaryReplicas(stableReplicas, step.weight);
      reporter.progress(
        `canary step ${number}/${steps.length}: ${replicas} canary ${replicas === 1 ? "pod" : "pods"} beside ` +
          `${stableReplicas} stable (${step.weight}%); waiting until ${replicas === 1 ? "it is" : "they are"} ready`,
      );
      await options.confirmHeld();
      await applyObjects(
        kubeConfig,
        [canaryDeployment(options.deployment, name, replicas, record)],
        {
          signal,
        },
      );
      try {
        await waitForRollout(kubeConfig, {
          namespace,
          name,
          timeoutMs: options.stallMs,
          stallMs: options.stallMs,
          reporter,
          signal,
        });
      } catch (error) {
        if (signal.aborted) throw error;
        const reason = `its pods did not become ready: ${(error as Error).message}`;
        const failed = emptyStep(number, step.weight, replicas, stableReplicas, "failed", [reason]);
        record.steps.push(failed);
        reporter.warn(describeStep(failed, steps.length));
        return await end(
          "failed",
          `failed at step ${number}/${steps.length}: its pods did not become ready`,
        );
      }
      load?.start();
      const judged = await analyseStep({
        ...options,
        spec,
        selector,
        number,
        of: steps.length,
        weight: step.weight,
        seconds: step.seconds,
        monotonic: options.monotonic ?? (() => performance.now()),
        load,
      });
      record.steps.push(judged);
      const line = describeStep(judged, steps.length);
      if (judged.verdict !== "passed") {
        reporter.warn(line);
        const outcome = judged.verdict === "inconclusive" ? "inconclusive" : "failed";
        return await end(outcome, `${outcome} at step ${number}/${steps.length}`);
      }
      reporter.progress(line);
      await writeRun(kubeConfig, namespace, name, record);
    }
    return { passed: true, record };
  } catch (error) {
    // A lost lock means someone else holds the namespace: they remove the canary.
    if (options.lockLost?.aborted) throw error;
    // Anything else (an interruption, a check that writes, an API error while
    // reading the pods) removes the canary before the error goes up: no
    // release that nobody judged to the end keeps serving.
    const at = `step ${record.steps.length + 1}/${steps.length}`;
    const summary = signal.aborted
      ? `interrupted at ${at}; the canary was removed and the stable release serves alone`
      : `stopped at ${at} by an error: ${(error as Error).message}`;
    await end(signal.aborted ? "interrupted" : "failed", summary).catch((cleanup: unknown) =>
      reporter.warn(
        `could not remove the canary ${namespace}/${name} (${(cleanup as Error).message}); ` +
          "the next deploy, verify or rollback removes it",
      ),
    );
    throw error;
  } finally {
    await load?.stop();
  }
}

function emptyTrack(): TrackStats {
  return { pods: 0, requests: 0, errors: 0, errorRate: undefined, p99Seconds: undefined };
}

function emptyStep(
  step: number,
  weight: number,
  canaryPods: number,
  stablePods: number,
  verdict: CanaryStepRecord["verdict"],
  reasons: string[],
): CanaryStepRecord {
  return {
    step,
    weight,
    canaryPods,
    stablePods,
    seconds: 0,
    verdict,
    canary: emptyTrack(),
    stable: emptyTrack(),
    reasons,
  };
}

/** The canary Deployment: the new pod template, told apart by TRACK_LABEL. */
export function canaryDeployment(
  app: k8s.V1Deployment,
  name: string,
  replicas: number,
  record: CanaryRecord,
): k8s.V1Deployment {
  const labels = { ...app.metadata?.labels, [TRACK_LABEL]: "canary" };
  const template = app.spec!.template;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name,
      namespace: app.metadata?.namespace,
      labels,
      annotations: { [CANARY_ANNOTATIONS.run]: JSON.stringify(record) },
    },
    spec: {
      replicas,
      revisionHistoryLimit: 1,
      ...(app.spec?.progressDeadlineSeconds
        ? { progressDeadlineSeconds: app.spec.progressDeadlineSeconds }
        : {}),
      selector: { matchLabels: { ...app.spec?.selector?.matchLabels, [TRACK_LABEL]: "canary" } },
      template: {
        ...template,
        metadata: {
          ...template.metadata,
          labels: { ...template.metadata?.labels, [TRACK_LABEL]: "canary" },
        },
      },
    },
  };
}

interface StepInput extends Omit<CanaryRunOptions, "load"> {
  spec: HistogramSpec;
  selector: Record<string, string>;
  number: number;
  of: number;
  weight: number;
  seconds: number;
  monotonic: () => number;
  load: LoadLoop | undefined;
}

/**
 * One step's window: every intervalSeconds, every ready pod's histogram is
 * read and compared with what it said when the window opened. A failure
 * ends the step at once; a pass only at the end of the window; too little
 * traffic waits up to noDataSeconds more, then is inconclusive.
 */
async function analyseStep(input: StepInput): Promise<CanaryStepRecord> {
  const { target, strategy, reporter, signal, spec } = input;
  // A wall clock that an NTP step moves would stretch or cut a window.
  const msNow = input.monotonic;
  const { analysis } = strategy;
  const where = `canary step ${input.number}/${input.of}`;
  const baseline = new Map<string, RequestHistogram>();
  const latest = new Map<string, { track: PodView["track"]; histogram: RequestHistogram }>();
  const restartsAtStart = new Map<string, number>();
  const unreadable = new Set<string>();

  const read = async (first: boolean) => {
    const pods = await listPods(target, input.selector, signal);
    await Promise.all(
      pods.map(async (pod) => {
        const answer = await getFromPod(
          target.kubeConfig,
          target.namespace,
          pod.name,
          input.appPort,
          analysis.metricsPath,
          { signal, timeoutMs: 5000 },
        ).catch((error: unknown) => ({ status: 0, body: (error as Error).message }));
        if (answer.status !== 200) {
          if (signal.aborted) return;
          if (!unreadable.has(pod.name)) {
            unreadable.add(pod.name);
            reporter.warn(
              `${where}: could not read ${analysis.metricsPath} of pod ${pod.name} (${answer.status || "no answer"}: ` +
                `${answer.body.slice(0, 120).trim()}); its requests are left out until it answers`,
            );
          }
          return;
        }
        const histogram = requestHistogram(answer.body, spec);
        if (first || !baseline.has(pod.name)) {
          // A pod first seen after the window opened (a replacement) served everything it reports since.
          baseline.set(pod.name, first ? histogram : (new Map() as RequestHistogram));
          restartsAtStart.set(pod.name, pod.restarts);
        }
        latest.set(pod.name, { track: pod.track, histogram });
      }),
    );
    return pods;
  };

  const stats = () => {
    const sides = { canary: [] as RequestHistogram[], stable: [] as RequestHistogram[] };
    for (const [pod, seen] of latest)
      sides[seen.track].push(increaseSince(baseline.get(pod), seen.histogram));
    return { canary: trackStats(sides.canary), stable: trackStats(sides.stable) };
  };

  let pods = await read(true);
  const count = (track: PodView["track"]) => pods.filter((p) => p.track === track).length;
  const started = msNow();
  const windowEnds = started + input.seconds * 1000;
  const giveUpAt = windowEnds + analysis.noDataSeconds * 1000;
  const intervalMs = analysis.intervalSeconds * 1000;
  reporter.progress(
    `${where}: analysing ${count("canary")} canary and ${count("stable")} stable pods for ${input.seconds} s, ` +
      `reading their metrics every ${analysis.intervalSeconds} s`,
  );
  const finish = (
    verdict: CanaryStepRecord["verdict"],
    reasons: string[],
    now: ReturnType<typeof stats>,
  ): CanaryStepRecord => ({
    step: input.number,
    weight: input.weight,
    canaryPods: count("canary"),
    stablePods: count("stable"),
    seconds: Math.round((msNow() - started) / 1000),
    verdict,
    canary: now.canary,
    stable: now.stable,
    reasons,
  });

  for (;;) {
    const remaining = windowEnds - msNow();
    await sleep(remaining > 0 ? Math.min(intervalMs, remaining) : intervalMs, undefined, {
      signal,
    });
    input.load?.throwIfRefused();
    pods = await read(false);
    const now = stats();
    const restarted = pods.filter(
      (p) => p.track === "canary" && p.restarts > (restartsAtStart.get(p.name) ?? p.restarts),
    );
    if (restarted.length > 0) {
      return finish(
        "failed",
        restarted.map(
          (p) =>
            `canary pod ${p.name} restarted${p.lastTermination ? ` (${p.lastTermination})` : ""}`,
        ),
        now,
      );
    }
    if (count("canary") === 0) {
      return finish("failed", ["no canary pod is ready any more"], now);
    }
    const verdict = judge(now.canary, now.stable, analysis);
    const elapsed = Math.round((msNow() - started) / 1000);
    const loadNote = input.load ? `; load ${input.load.describe()}` : "";
    if (verdict.kind === "fail") return finish("failed", verdict.failures, now);
    if (msNow() >= windowEnds) {
      if (verdict.kind === "pass") return finish("passed", [], now);
      if (msNow() >= giveUpAt) {
        return finish(
          "inconclusive",
          [
            `too little traffic to judge after ${elapsed} s (${now.canary.requests} canary and ` +
              `${now.stable.requests} stable requests; ${analysis.minRequests} each needed): no data is never a pass`,
          ],
          now,
        );
      }
      reporter.status(
        `${where}: pausing until there is traffic to judge (${elapsed} s; inconclusive after ` +
          `${input.seconds + analysis.noDataSeconds} s): ${verdict.summary}${loadNote}`,
      );
      continue;
    }
    reporter.status(`${where}: ${elapsed} s of ${input.seconds} s: ${verdict.summary}${loadNote}`);
  }
}

async function listPods(
  target: EnvironmentTarget,
  selector: Record<string, string>,
  signal: AbortSignal,
): Promise<PodView[]> {
  const list = await target.kubeConfig
    .makeApiClient(k8s.CoreV1Api)
    .listNamespacedPod(
      { namespace: target.namespace, labelSelector: labelSelector(selector) },
      requestOptions(signal),
    );
  return list.items
    .filter(
      (pod) =>
        !pod.metadata?.deletionTimestamp && pod.status?.phase === "Running" && isPodReady(pod),
    )
    .map((pod) => {
      const statuses = pod.status?.containerStatuses ?? [];
      const terminated = statuses.find((c) => c.lastState?.terminated)?.lastState?.terminated;
      return {
        name: String(pod.metadata?.name),
        track: pod.metadata?.labels?.[TRACK_LABEL] === "canary" ? "canary" : "stable",
        restarts: statuses.reduce((sum, c) => sum + (c.restartCount ?? 0), 0),
        lastTermination: terminated
          ? `last exit ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ""}`
          : undefined,
      };
    });
}

/**
 * Deletes the canary Deployment and waits (up to a minute) until none of its
 * pods is ready any more: a terminating pod leaves the Service's endpoints
 * at once, so the stable release then serves alone. Nothing there is fine.
 */
export async function removeCanary(
  target: EnvironmentTarget,
  deployment: string,
  reporter: Reporter,
): Promise<boolean> {
  const { kubeConfig, namespace } = target;
  const name = canaryName(deployment);
  const live = await readDeployment(kubeConfig, namespace, name);
  if (!live) return false;
  // This app's canary pods only: another app's canary may run in the same namespace.
  const selector = labelSelector({ ...live.spec?.selector?.matchLabels, [TRACK_LABEL]: "canary" });
  const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
  try {
    await apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: "Background" });
  } catch (error) {
    if (statusCodeOf(error) === 404) return false;
    throw error;
  }
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; i < 60; i++) {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
    const serving = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
    if (serving.length === 0) break;
    await sleep(1000);
  }
  reporter.progress(`removed the canary ${namespace}/${name}: the stable release serves alone`);
  return true;
}

/**
 * Call while holding the deploy lock: a canary Deployment that is still
 * there belongs to a deploy whose process was killed or lost (its holder is
 * gone, since we hold the lock). It is removed, and its outcome recorded as
 * interrupted with the steps it had judged. Resolves to what was done.
 */
export async function resolveUnfinishedCanary(
  target: EnvironmentTarget,
  deployment: string,
  reporter: Reporter,
  clock: Clock = systemClock,
): Promise<string | undefined> {
  const { kubeConfig, namespace } = target;
  const live = await readDeployment(kubeConfig, namespace, canaryName(deployment));
  if (!live) return undefined;
  const record = parseRecord(live.metadata?.annotations?.[CANARY_ANNOTATIONS.run]);
  reporter.warn(
    `the canary ${namespace}/${canaryName(deployment)}` +
      (record ? ` of ${record.image}, started ${record.startedAt} by ${record.by},` : "") +
      ` never finished (its process was killed or lost); removing it`,
  );
  await removeCanary(target, deployment, reporter);
  const summary =
    `the canary${record ? ` of ${record.image}` : ""} never finished (its process was killed or lost) ` +
    `after ${record?.steps.length ?? 0} judged ${record?.steps.length === 1 ? "step" : "steps"}; the next run removed it`;
  if (record && (await readDeployment(kubeConfig, namespace, deployment))) {
    await appendOutcome(kubeConfig, namespace, deployment, {
      ...record,
      outcome: "interrupted",
      endedAt: new Date(clock.now()).toISOString(),
      summary,
    });
  }
  return summary;
}

/**
 * The optional load: the named read-only contract checks, started at most
 * ratePerSecond times a second with at most `concurrency` in flight, against
 * the Service through the API server. Their failures are not the judgement
 * (the pods' metrics are); a check that tries to write stops the canary.
 */
class LoadLoop {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private runs = 0;
  private failures = 0;
  private refused: NotReadOnly | undefined;
  private next = 0;

  constructor(
    private readonly load: CanaryLoad,
    private readonly target: { baseUrl: string; fetch: typeof fetch },
  ) {}

  /** Each check once, against what serves now; a refused request is a ConfigError (exit 2). */
  async preflight(): Promise<void> {
    for (const check of this.load.checks) {
      try {
        await check.run({ ...this.target, timeoutMs: 10_000, live: true });
      } catch (error) {
        if (error instanceof NotReadOnly) throw error;
        if (error instanceof ConfigError) throw error;
        // The stable release failing a check is not the canary's business here.
      }
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), Math.max(20, 1000 / this.load.ratePerSecond));
  }

  private tick(): void {
    if (this.refused) return;
    if (this.inFlight.size >= this.load.concurrency) return;
    const check = this.load.checks[this.next++ % this.load.checks.length]!;
    const run = check
      .run({ ...this.target, timeoutMs: 10_000, live: true })
      .then(
        () => undefined,
        (error: unknown) => {
          if (error instanceof NotReadOnly) this.refused = error;
          this.failures++;
        },
      )
      .finally(() => {
        this.runs++;
        this.inFlight.delete(run);
      });
    this.inFlight.add(run);
  }

  throwIfRefused(): void {
    if (this.refused) throw this.refused;
  }

  describe(): string {
    return `${this.runs} check runs, ${this.failures} failed`;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
  }
}
