import type * as k8s from "@kubernetes/client-node";
import { annotateDeployment } from "../kube/annotate-deployment.js";
import { CANARY_OUTCOMES_ANNOTATION } from "../kube/revisions.js";
import type { TrackStats } from "./canary-analysis.js";
import { describeTrack } from "./canary-analysis.js";
import { readDeployment } from "./read-deployment.js";

/**
 * What a canary did, step by step, kept on the cluster beside the release:
 * while it runs, on the canary Deployment (so that the run that finds it
 * after a kill can say how far it got); when it has ended, in the last
 * CANARY_HISTORY_LENGTH outcomes on the app's Deployment, which `history`
 * shows.
 */
export const CANARY_ANNOTATIONS = {
  /** On the canary Deployment: the run so far (a CanaryRecord without outcome). */
  run: "pipeline-lib.dev/canary-run",
  /** On the app's Deployment: the last outcomes, newest last (CanaryRecord[]). */
  outcomes: CANARY_OUTCOMES_ANNOTATION,
} as const;

/** The label that tells canary pods from stable ones. */
export const TRACK_LABEL = "pipeline-lib.dev/track";

export const CANARY_HISTORY_LENGTH = 10;

/** The field manager of the records (merge patches), apart from the apply's. */
const RECORD_MANAGER = "pipeline-lib-canary";

export type StepVerdict = "passed" | "failed" | "inconclusive" | "interrupted";
export type CanaryOutcome = "promoted" | "failed" | "inconclusive" | "interrupted";

export interface CanaryStepRecord {
  /** 1-based. */
  step: number;
  weight: number;
  canaryPods: number;
  stablePods: number;
  /** How long the step's analysis ran. */
  seconds: number;
  verdict: StepVerdict;
  canary: TrackStats;
  stable: TrackStats;
  /** Why it failed or was inconclusive; empty when it passed. */
  reasons: string[];
}

export interface CanaryRecord {
  image: string;
  commit: string | undefined;
  /** Who started it (Jenkins' trigger and build). */
  by: string;
  startedAt: string;
  /** How many steps the strategy had. */
  plannedSteps: number;
  endedAt?: string;
  outcome?: CanaryOutcome;
  /** The steps judged so far (all of them once it has ended). */
  steps: CanaryStepRecord[];
  /** One line: why it ended so. */
  summary?: string;
}

/** The step's verdict line, as the log, the error and `history` show it. */
export function describeStep(step: CanaryStepRecord, of: number): string {
  const share = `${step.weight}%: ${step.canaryPods} canary ${step.canaryPods === 1 ? "pod" : "pods"} beside ${step.stablePods} stable`;
  const head = `canary step ${step.step}/${of} (${share}) ${step.verdict} after ${step.seconds} s`;
  const numbers = `canary ${describeTrack(step.canary)}; stable ${describeTrack(step.stable)}`;
  return step.reasons.length > 0
    ? `${head}: ${step.reasons.join("; ")} [${numbers}]`
    : `${head}: ${numbers}`;
}

export function parseRecord(value: string | undefined): CanaryRecord | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Partial<CanaryRecord>;
    return typeof parsed.image === "string" && Array.isArray(parsed.steps)
      ? (parsed as CanaryRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The outcomes recorded on the app's Deployment, oldest first; what does not parse is left out. */
export function parseOutcomes(value: string | undefined): CanaryRecord[] {
  if (!value) return [];
  try {
    const parsed = JSON.parse(value) as unknown;
    return Array.isArray(parsed)
      ? parsed
          .map((r) => parseRecord(JSON.stringify(r)))
          .filter((r): r is CanaryRecord => r !== undefined)
      : [];
  } catch {
    return [];
  }
}

function patchAnnotation(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  name: string,
  key: string,
  value: string,
): Promise<void> {
  return annotateDeployment(kubeConfig, namespace, name, RECORD_MANAGER, key, value);
}

/** Writes the run so far on the canary Deployment. */
export async function writeRun(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  canary: string,
  record: CanaryRecord,
): Promise<void> {
  await patchAnnotation(
    kubeConfig,
    namespace,
    canary,
    CANARY_ANNOTATIONS.run,
    JSON.stringify(record),
  );
}

/** Appends an ended canary to the app's Deployment, keeping the last CANARY_HISTORY_LENGTH. */
export async function appendOutcome(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  deployment: string,
  record: CanaryRecord,
): Promise<void> {
  const live = await readDeployment(kubeConfig, namespace, deployment);
  const outcomes = [
    ...parseOutcomes(live?.metadata?.annotations?.[CANARY_ANNOTATIONS.outcomes]),
    record,
  ];
  await patchAnnotation(
    kubeConfig,
    namespace,
    deployment,
    CANARY_ANNOTATIONS.outcomes,
    JSON.stringify(outcomes.slice(-CANARY_HISTORY_LENGTH)),
  );
}
