import type * as k8s from "@kubernetes/client-node";
import { StageError, UsageError } from "../errors.js";
import { adoptUpdatedFields } from "./adopt-updated-fields.js";
import { FIELD_MANAGER } from "./apply.js";
import { canonicalJson } from "./canonical-json.js";
import { KubeApiError } from "./kube-api-error.js";
import { KubeJsonClient } from "./kube-json-client.js";
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION } from "./rollout-status.js";
import { labelSelector } from "./label-selector.js";

/** One revision of a Deployment: a ReplicaSet it owns. */
export interface DeploymentRevision {
  revision: number;
  replicaSet: string;
  /** The image of each container, in order. */
  images: string[];
  /** The sha256 digest of the first container's image, when it is referenced by digest. */
  digest: string | undefined;
  /** When the ReplicaSet was created, i.e. when this revision was first rolled out (ISO 8601). */
  createdAt: string | undefined;
  /**
   * The ReplicaSet's annotations. The deployment controller copies the
   * Deployment's annotations onto the ReplicaSet it creates, so the
   * `pipeline-lib.dev/…` ones of the deploy that made this revision are here.
   */
  annotations: Record<string, string>;
  /** The revision the Deployment runs now. */
  current: boolean;
  /** Pods the ReplicaSet wants and has ready now; old revisions are scaled to 0. */
  replicas: number;
  readyReplicas: number;
}

/** There is no earlier revision to go back to. Exit code 1. */
export class NothingToRollBack extends StageError {
  constructor(
    readonly deployment: string,
    readonly currentRevision: number,
  ) {
    super(
      `nothing to roll back to: Deployment ${deployment} has no revision before ` +
        `revision ${currentRevision} (it was deployed once, or the older ReplicaSets ` +
        `were pruned by spec.revisionHistoryLimit)`,
    );
  }
}

/** The Deployment does not exist. Exit code 2: nothing was changed. */
export class DeploymentNotFound extends UsageError {
  constructor(readonly deployment: string) {
    super(`Deployment ${deployment} does not exist; check the namespace and the app name`);
  }
}

/** Every revision of a Deployment that still has its ReplicaSet, oldest first. */
export async function listRevisions(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  deploymentName: string,
  { signal }: { signal?: AbortSignal } = {},
): Promise<DeploymentRevision[]> {
  const { deployment, replicaSets } = await readHistory(
    KubeJsonClient.forConfig(kubeConfig),
    namespace,
    deploymentName,
    signal,
  );
  const current = revisionOf(deployment);
  return replicaSets.map((rs) => {
    const images = (rs.spec?.template?.spec?.containers ?? []).map((c) => c.image ?? "");
    return {
      revision: revisionOf(rs),
      replicaSet: rs.metadata.name,
      images,
      digest: /@(sha256:[0-9a-f]{64})$/.exec(images[0] ?? "")?.[1],
      createdAt: rs.metadata.creationTimestamp,
      annotations: { ...rs.metadata.annotations },
      current: revisionOf(rs) === current,
      replicas: rs.spec?.replicas ?? 0,
      readyReplicas: rs.status?.readyReplicas ?? 0,
    };
  });
}

export interface RollbackOptions {
  /** The revision to go back to; by default the highest one below the current. */
  toRevision?: number;
  signal?: AbortSignal;
}

export interface RollbackResult {
  /** False when the Deployment already ran that template: nothing was changed. */
  changed: boolean;
  fromRevision: number;
  toRevision: number;
  /** The ReplicaSet whose template the Deployment runs again. */
  replicaSet: string;
  images: string[];
  message: string;
  /** Something the caller should pass on to people, when the rollback worked with a caveat. */
  warning?: string;
}

/**
 * `kubectl rollout undo`: copies the pod template of an earlier revision's
 * ReplicaSet (without its pod-template-hash label) into the Deployment, with
 * that ReplicaSet's annotations (the Deployment keeps its own
 * deployment-controller ones), in one JSON patch. The controller then scales
 * that ReplicaSet back up and gives it the next revision number; wait for it
 * with waitForRollout. The fields the patch restored are then handed to the
 * pipeline-lib apply (adoptUpdatedFields), so the next deploy can remove them.
 */
export async function rollbackDeployment(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  name: string,
  { toRevision, signal }: RollbackOptions = {},
): Promise<RollbackResult> {
  const client = KubeJsonClient.forConfig(kubeConfig);
  const ref = `${namespace}/${name}`;
  const { deployment, replicaSets } = await readHistory(client, namespace, name, signal);
  const current = revisionOf(deployment);
  const target =
    toRevision === undefined
      ? replicaSets.filter((rs) => revisionOf(rs) < current).at(-1)
      : replicaSets.find((rs) => revisionOf(rs) === toRevision);
  if (!target) {
    if (toRevision === undefined) throw new NothingToRollBack(ref, current);
    throw new UsageError(
      `Deployment ${ref} has no revision ${toRevision}; its revisions are ` +
        `${replicaSets.map(revisionOf).join(", ") || "none"}`,
    );
  }
  const targetRevision = revisionOf(target);
  const template = withoutHashLabel(target.spec?.template ?? {});
  const images = (template.spec?.containers ?? []).map((c) => c.image ?? "");
  const result = {
    fromRevision: current,
    toRevision: targetRevision,
    replicaSet: target.metadata.name,
    images,
  };
  if (
    canonicalJson(template) === canonicalJson(withoutHashLabel(deployment.spec?.template ?? {}))
  ) {
    return {
      ...result,
      changed: false,
      message: `Deployment ${ref} already runs the template of revision ${targetRevision} (${images.join(", ")}); nothing was changed`,
    };
  }
  if (deployment.spec?.paused) {
    throw new UsageError(
      `Deployment ${ref} is paused; resume it (kubectl rollout resume deployment/${name} -n ${namespace}) and roll back again`,
    );
  }
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(deployment.metadata.annotations ?? {})) {
    if (CONTROLLER_ANNOTATIONS.has(key)) annotations[key] = value;
  }
  for (const [key, value] of Object.entries(target.metadata.annotations ?? {})) {
    if (!CONTROLLER_ANNOTATIONS.has(key)) annotations[key] = value;
  }
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`;
  await client
    .request("PATCH", path, {
      query: { fieldManager: FIELD_MANAGER },
      contentType: "application/json-patch+json",
      body: [
        { op: "replace", path: "/spec/template", value: template },
        { op: "replace", path: "/metadata/annotations", value: annotations },
      ],
      signal,
    })
    .catch((cause: unknown) => {
      throw new StageError(
        `rolling Deployment ${ref} back to revision ${targetRevision} failed: ${messageOf(cause)}`,
        { cause },
      );
    });
  const message = `Deployment ${ref} rolled back from revision ${current} to the template of revision ${targetRevision} (${images.join(", ")})`;
  try {
    await adoptUpdatedFields(client, path, FIELD_MANAGER, signal);
    return { ...result, changed: true, message };
  } catch (error) {
    // The rollback itself stands; only a later field removal could be affected.
    const warning =
      `could not hand the rolled-back fields of Deployment ${ref} to the ${FIELD_MANAGER} apply: ` +
      `${messageOf(error)}; a field the next deploy drops may stay until removed by hand`;
    return { ...result, changed: true, message, warning };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Annotations that describe the Deployment's own bookkeeping: kept from the
 * Deployment, never copied from the ReplicaSet (kubectl's annotationsToSkip).
 */
/**
 * Set on the Deployment by `deploy` before it applies anything, cleared when
 * the deploy has ended either way (deploy/deploy-journal.ts). The controller
 * copies it onto the ReplicaSet it creates; a rollback never copies it back.
 */
export const IN_PROGRESS_ANNOTATION = "pipeline-lib.dev/deploy-in-progress";

/**
 * Set on the Deployment by a canary that ended (deploy/canary-record.ts): the
 * last outcomes of every canary, promoted or not. Like the journal, it belongs
 * to the Deployment and a rollback keeps it.
 */
export const CANARY_OUTCOMES_ANNOTATION = "pipeline-lib.dev/canaries";

const CONTROLLER_ANNOTATIONS: ReadonlySet<string> = new Set([
  IN_PROGRESS_ANNOTATION,
  CANARY_OUTCOMES_ANNOTATION,
  "kubectl.kubernetes.io/last-applied-configuration",
  REVISION_ANNOTATION,
  "deployment.kubernetes.io/revision-history",
  "deployment.kubernetes.io/desired-replicas",
  "deployment.kubernetes.io/max-replicas",
  "deprecated.deployment.rollback.to",
]);

interface Meta {
  name: string;
  uid?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { uid: string }[];
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; [field: string]: unknown };
  spec?: { containers?: { name: string; image?: string }[]; [field: string]: unknown };
}

// The API server's JSON, not client-node's models: a template copied back must
// keep every field, including those newer than the library.
interface RawDeployment {
  metadata: Meta;
  spec?: {
    paused?: boolean;
    selector?: { matchLabels?: Record<string, string> };
    template?: PodTemplate;
  };
}

interface RawReplicaSet {
  metadata: Meta;
  spec?: { replicas?: number; template?: PodTemplate };
  status?: { readyReplicas?: number };
}

/** The Deployment and the ReplicaSets it owns, oldest revision first. */
async function readHistory(
  client: KubeJsonClient,
  namespace: string,
  name: string,
  signal: AbortSignal | undefined,
): Promise<{ deployment: RawDeployment; replicaSets: RawReplicaSet[] }> {
  const ns = encodeURIComponent(namespace);
  const deployment = await client
    .request<RawDeployment>(
      "GET",
      `/apis/apps/v1/namespaces/${ns}/deployments/${encodeURIComponent(name)}`,
      {
        signal,
      },
    )
    .catch((error: unknown) => {
      if (error instanceof KubeApiError && error.code === 404) {
        throw new DeploymentNotFound(`${namespace}/${name}`);
      }
      throw error;
    });
  const list = await client.request<{ items: RawReplicaSet[] }>(
    "GET",
    `/apis/apps/v1/namespaces/${ns}/replicasets`,
    {
      query: { labelSelector: labelSelector(deployment.spec?.selector?.matchLabels ?? {}) },
      signal,
    },
  );
  const replicaSets = list.items
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === deployment.metadata.uid))
    .filter((rs) => revisionOf(rs) > 0)
    .sort((a, b) => revisionOf(a) - revisionOf(b));
  return { deployment, replicaSets };
}

function revisionOf(object: { metadata: Meta }): number {
  return Number(object.metadata.annotations?.[REVISION_ANNOTATION] ?? 0) || 0;
}

function withoutHashLabel(template: PodTemplate): PodTemplate {
  const labels = { ...template.metadata?.labels };
  delete labels[POD_TEMPLATE_HASH_LABEL];
  return { ...template, metadata: { ...template.metadata, labels } };
}
