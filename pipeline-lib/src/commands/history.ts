import { connectEnvironment, type EnvironmentOptions } from "../deploy/environment-target.js";
import { ANNOTATIONS } from "../deploy/render-manifests.js";
import { describeStep, parseOutcomes, type CanaryRecord } from "../deploy/canary-record.js";
import { readDeployment } from "../deploy/read-deployment.js";
import { CANARY_OUTCOMES_ANNOTATION } from "../kube/revisions.js";
import {
  DeploymentNotFound,
  listRevisions,
  type DeploymentRevision as Revision,
} from "../kube/revisions.js";
import type { CommandContext } from "./context.js";

export type HistoryOptions = EnvironmentOptions;

/** One revision as `history` shows it. */
export interface ReleaseRecord {
  revision: number;
  current: boolean;
  image: string | undefined;
  digest: string | undefined;
  /** The commit that deployed it. */
  commit: string | undefined;
  /** The commit the image was built from (its provenance), when it differs or is known. */
  imageCommit: string | undefined;
  /** The signed evidence the deploy gate accepted. */
  evidence: string | undefined;
  deployedAt: string | undefined;
  triggeredBy: string | undefined;
  buildUrl: string | undefined;
  changeCause: string | undefined;
  /** The canary this revision was promoted from, step by step. */
  canary?: CanaryRecord;
}

export function releaseRecord(revision: Revision): ReleaseRecord {
  const notes = revision.annotations;
  return {
    revision: revision.revision,
    current: revision.current,
    image: notes[ANNOTATIONS.image] ?? revision.images[0],
    digest: revision.digest,
    commit: notes[ANNOTATIONS.commit],
    imageCommit: notes[ANNOTATIONS.imageCommit],
    evidence: notes[ANNOTATIONS.evidence],
    deployedAt: notes[ANNOTATIONS.deployedAt] ?? revision.createdAt,
    triggeredBy: notes[ANNOTATIONS.triggeredBy],
    buildUrl: notes[ANNOTATIONS.buildUrl],
    changeCause: notes[ANNOTATIONS.changeCause],
  };
}

/** Lists the revisions that deploy recorded: the ReplicaSets of the app's Deployment. */
export async function history(
  options: HistoryOptions,
  ctx: CommandContext,
): Promise<ReleaseRecord[]> {
  const config = await ctx.config();
  const target = await connectEnvironment(config, options, {
    env: ctx.env,
    reporter: ctx.reporter,
  });
  const name = config.deploy.deploymentName;
  // Nothing deployed yet is an answer (the first release's approval shows it), not an error.
  const revisions = await listRevisions(target.kubeConfig, target.namespace, name).catch(
    (error: unknown) => {
      if (error instanceof DeploymentNotFound) return [];
      throw error;
    },
  );
  const live =
    revisions.length > 0
      ? await readDeployment(target.kubeConfig, target.namespace, name)
      : undefined;
  const canaries = parseOutcomes(live?.metadata?.annotations?.[CANARY_OUTCOMES_ANNOTATION]);
  const records = revisions.map((revision) => {
    const record = releaseRecord(revision);
    const promoted = canaries.findLast((c) => c.outcome === "promoted" && c.image === record.image);
    return promoted ? { ...record, canary: promoted } : record;
  });
  const notPromoted = canaries.filter((c) => c.outcome !== "promoted");
  const table = [
    ["REVISION", "DEPLOYED AT", "COMMIT", "DIGEST", "TRIGGERED BY"],
    ...records.map((r) => [
      `${r.revision}${r.current ? "*" : ""}`,
      r.deployedAt ?? "-",
      r.commit?.slice(0, 12) ?? "-",
      r.digest ? r.digest.slice(0, 19) : "-",
      r.triggeredBy ?? "-",
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const text = table.flatMap((row, i) => {
    const line = row
      .map((cell, j) => cell.padEnd(widths[j]!))
      .join("  ")
      .trimEnd();
    const record = i > 0 ? records[i - 1] : undefined;
    const built =
      record?.imageCommit && record.imageCommit !== record.commit
        ? `image built from ${record.imageCommit.slice(0, 12)}; `
        : "";
    const lines = [line];
    if (record && (record.evidence || built)) {
      lines.push(`    ${built}${record.evidence ?? "no signed evidence recorded"}`);
    }
    if (record?.canary) lines.push(...canaryLines(record.canary));
    return lines;
  });
  if (notPromoted.length > 0) {
    text.push("canaries that were not promoted (newest last):");
    for (const c of notPromoted) {
      text.push(
        `  ${c.startedAt}  ${c.outcome ?? "unknown"}  ${c.image.replace(/^.*@/, "").slice(0, 19)}  ${c.by}`,
        ...canaryLines(c).map((l) => `  ${l}`),
      );
    }
  }
  ctx.reporter.result(
    records.length === 0
      ? `nothing deployed to ${target.name} yet: no revisions of ${name} in namespace ${target.namespace}`
      : `${text.join("\n")}\n(* serves now; namespace ${target.namespace}, deployment ${name})`,
    {
      environment: target.name,
      namespace: target.namespace,
      deployment: name,
      revisions: records,
      canaries,
    },
  );
  return records;
}

/** A canary's steps under its revision: each step's verdict line, then why it ended. */
function canaryLines(canary: CanaryRecord): string[] {
  const of = canary.plannedSteps ?? canary.steps.length;
  const lines = canary.steps.map((step) => `    ${describeStep(step, of)}`);
  if (canary.outcome !== "promoted" && canary.summary) lines.push(`    ${canary.summary}`);
  return lines;
}
