import type { Reporter } from "../output/reporter.js";
import { NothingToRollBack, rollbackDeployment } from "../kube/revisions.js";
import { waitForRollout } from "../kube/wait-for-rollout.js";
import type { EnvironmentTarget } from "./environment-target.js";

export interface RecoveryOutcome {
  /** The revision that serves now, when a rollback happened. */
  rolledBackTo?: number;
  /** From this revision. */
  rolledBackFrom?: number;
  /** What happened, for the failure report. */
  summary: string;
}

/**
 * After a failed rollout or a failed verification: back to the previous
 * revision (`kubectl rollout undo`), then wait until it is healthy again.
 * Never throws for a rollback that cannot happen (a first deploy): the
 * caller's failure is the one to report, and this says what state it left.
 */
export async function rollBackAfterFailure(
  target: EnvironmentTarget,
  deploymentName: string,
  { reporter, timeoutMs }: { reporter: Reporter; timeoutMs: number },
): Promise<RecoveryOutcome> {
  const where = `${target.namespace}/${deploymentName}`;
  let from: number;
  let to: number;
  try {
    reporter.progress(`rolling back deployment ${where} to its previous revision`);
    const result = await rollbackDeployment(target.kubeConfig, target.namespace, deploymentName);
    from = result.fromRevision;
    to = result.toRevision;
    if (result.warning) reporter.warn(result.warning);
  } catch (error) {
    if (error instanceof NothingToRollBack) {
      const summary =
        `nothing to roll back to: this was the first deploy of ${where}, so the failed release ` +
        `stays in place for you to inspect (kubectl -n ${target.namespace} get pods)`;
      return { summary };
    }
    const summary = `the rollback of ${where} failed: ${(error as Error).message}`;
    reporter.warn(summary);
    return { summary };
  }
  reporter.progress(
    `rolled back ${where} from revision ${from} to ${to}; waiting until it is healthy`,
  );
  try {
    // The rollback must finish even when the deploy was interrupted: no signal here.
    await waitForRollout(target.kubeConfig, {
      namespace: target.namespace,
      name: deploymentName,
      timeoutMs,
      reporter,
    });
  } catch (error) {
    const summary =
      `rolled back ${where} from revision ${from} to ${to}, but revision ${to} is not healthy ` +
      `either: ${(error as Error).message}`;
    reporter.warn(summary);
    return { rolledBackFrom: from, rolledBackTo: to, summary };
  }
  const summary = `rolled back ${where} from revision ${from} to ${to}, which is healthy and serving`;
  reporter.progress(summary);
  return { rolledBackFrom: from, rolledBackTo: to, summary };
}
