import type * as k8s from "@kubernetes/client-node";
import { IN_PROGRESS_ANNOTATION, listRevisions } from "../kube/revisions.js";
import { annotateDeployment } from "../kube/annotate-deployment.js";
import type { Reporter } from "../output/reporter.js";
import type { EnvironmentTarget } from "./environment-target.js";
import { readDeployment } from "./read-deployment.js";
import { rollBackAndWait } from "./recover.js";
import { resolveUnfinishedCanary } from "./canary.js";

/**
 * What a deploy is about to do, written on the Deployment before anything is
 * applied and cleared when the deploy has ended, whichever way: a process that
 * is killed (SIGKILL, an agent that vanishes, Jenkins' kill after its grace)
 * leaves it there, and the next `deploy`, `rollback` or `verify`, holding the
 * deploy lock the dead process can no longer renew, puts back what served.
 */
export interface DeployJournal {
  /** The revision that served when the deploy started, and its image. */
  previousRevision: number;
  previousImage: string | undefined;
  /** The image being deployed. */
  image: string;
  holder: string;
  startedAt: string;
}

const JOURNAL_MANAGER = "pipeline-lib-journal";

function patchAnnotation(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  name: string,
  value: string | null,
): Promise<void> {
  return annotateDeployment(
    kubeConfig,
    namespace,
    name,
    JOURNAL_MANAGER,
    IN_PROGRESS_ANNOTATION,
    value,
  );
}

/** Records the deploy about to start; only an existing Deployment has something to put back. */
export async function writeJournal(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  name: string,
  journal: DeployJournal,
): Promise<void> {
  await patchAnnotation(kubeConfig, namespace, name, JSON.stringify(journal));
}

/** The deploy has ended (done, or rolled back and healthy): nothing to repair any more. */
export async function clearJournal(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<void> {
  await patchAnnotation(kubeConfig, namespace, name, null);
}

export function parseJournal(value: string | undefined): DeployJournal | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Partial<DeployJournal>;
    return typeof parsed.previousRevision === "number" && typeof parsed.image === "string"
      ? (parsed as DeployJournal)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Call while holding the deploy lock: a canary that is still there is removed
 * (resolveUnfinishedCanary). When the Deployment carries the journal
 * of a deploy that never ended (its holder is gone, since we hold the lock),
 * returns it to the revision that served before that deploy, waits until that
 * is healthy, clears the journal and says what it did. Resolves to the
 * summary, or undefined when there was nothing to repair.
 */
export async function repairUnfinishedDeploy(
  target: EnvironmentTarget,
  name: string,
  { reporter, timeoutMs }: { reporter: Reporter; timeoutMs: number },
): Promise<string | undefined> {
  const { kubeConfig, namespace } = target;
  // A canary left behind goes first: it serves a release nobody judged to the end.
  const canary = await resolveUnfinishedCanary(target, name, reporter);
  const deployment = await readDeployment(kubeConfig, namespace, name);
  const journal = parseJournal(deployment?.metadata?.annotations?.[IN_PROGRESS_ANNOTATION]);
  if (!deployment || !journal) return canary;
  const where = `${namespace}/${name}`;
  reporter.warn(
    `the deploy of ${journal.image} to ${where} by ${journal.holder}, started ${journal.startedAt}, ` +
      `never finished (its process was killed or lost); putting back what served before it`,
  );
  const revisions = await listRevisions(kubeConfig, namespace, name);
  const current = revisions.find((r) => r.current);
  // Revision numbers move on a rollback; the image that served is what to find.
  const previous =
    revisions
      .filter((r) => journal.previousImage !== undefined && r.images[0] === journal.previousImage)
      .at(-1) ?? revisions.find((r) => r.revision === journal.previousRevision);
  let summary: string;
  if (!previous) {
    summary =
      `repaired nothing: revision ${journal.previousRevision} (${journal.previousImage ?? "unknown image"}), ` +
      `which served before that deploy, is gone (pruned by revisionHistoryLimit); revision ` +
      `${current?.revision ?? "?"} stays`;
  } else if (current && current.revision === previous.revision) {
    summary = `the revision that served before it (${previous.revision}) serves again already`;
  } else {
    const { from, to } = await rollBackAndWait(target, name, {
      reporter,
      timeoutMs,
      toRevision: previous.revision,
    });
    summary = `repaired: rolled ${where} back from revision ${from} to ${to} (${previous.images[0]}), which is healthy`;
  }
  await clearJournal(kubeConfig, namespace, name);
  reporter.progress(summary);
  return canary ? `${canary}; ${summary}` : summary;
}
