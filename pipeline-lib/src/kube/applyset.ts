import type * as k8s from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { StageError } from "../errors.js";
import { FIELD_MANAGER, objectRef } from "./apply.js";
import { KubeApiError } from "./kube-api-error.js";
import { KubeJsonClient } from "./kube-json-client.js";

/**
 * An ApplySet (KEP-3659, as `kubectl apply --prune --applyset` keeps one):
 * a parent object records which group-kinds the set's members have, and each
 * member carries the label `applyset.kubernetes.io/part-of=<id>`. An object
 * removed from the manifests is then found by that label and deleted; nothing
 * outside the set is ever touched. The parent is a Secret (kubectl's default
 * parent kind) named after the app.
 */
export const PART_OF_LABEL = "applyset.kubernetes.io/part-of";
export const ID_LABEL = "applyset.kubernetes.io/id";
export const KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds";
export const TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling";

export interface ApplySet {
  namespace: string;
  /** The parent Secret's name. */
  parent: string;
  id: string;
}

/** The set of one app in one namespace; its id as the KEP derives it from the parent. */
export function applySetFor(app: string, namespace: string): ApplySet {
  const parent = `${app}-applyset`;
  const hash = createHash("sha256").update(`${parent}.${namespace}.Secret.`).digest("base64url");
  return { namespace, parent, id: `applyset-${hash}-v1` };
}

/** `Deployment.apps`, `Service` (the core group has no suffix). */
export function groupKindOf(object: k8s.KubernetesObject): string {
  const apiVersion = object.apiVersion ?? "v1";
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  return group ? `${object.kind}.${group}` : String(object.kind);
}

/**
 * Secrets stay out of the set: pruning lists each kind by label, and listing
 * Secrets would give the deployer every Secret's contents in the namespace.
 * The pull secret is written (and left) by name.
 */
export function isMember(object: k8s.KubernetesObject): boolean {
  return groupKindOf(object) !== "Secret";
}

/** The objects, the set's members labelled as part of it (copies; the input is not changed). */
export function withMembership<T extends k8s.KubernetesObject>(
  objects: readonly T[],
  set: ApplySet,
): T[] {
  return objects.map((o) =>
    isMember(o)
      ? {
          ...o,
          metadata: { ...o.metadata, labels: { ...o.metadata?.labels, [PART_OF_LABEL]: set.id } },
        }
      : o,
  );
}

/** The group-kinds of the set's members among `objects`. */
export function memberGroupKinds(objects: readonly k8s.KubernetesObject[]): string[] {
  return [...new Set(objects.filter(isMember).map(groupKindOf))].sort();
}

function parentPath(set: ApplySet): string {
  return `/api/v1/namespaces/${encodeURIComponent(set.namespace)}/secrets/${encodeURIComponent(set.parent)}`;
}

/** The group-kinds the parent says the set has (none when there is no parent yet). */
export async function recordedGroupKinds(
  kubeConfig: k8s.KubeConfig,
  set: ApplySet,
): Promise<string[]> {
  const client = KubeJsonClient.forConfig(kubeConfig);
  const parent = await client
    .request<k8s.V1Secret>("GET", parentPath(set))
    .catch((error: unknown) => {
      if (error instanceof KubeApiError && error.code === 404) return undefined;
      throw error;
    });
  return (parent?.metadata?.annotations?.[KINDS_ANNOTATION] ?? "").split(",").filter(Boolean);
}

/** Applies the parent Secret with these group-kinds (server-side apply, as the members). */
export async function writeParent(
  kubeConfig: k8s.KubeConfig,
  set: ApplySet,
  groupKinds: readonly string[],
): Promise<void> {
  const client = KubeJsonClient.forConfig(kubeConfig);
  await client.request("PATCH", parentPath(set), {
    query: { fieldManager: FIELD_MANAGER, force: "true" },
    contentType: "application/apply-patch+yaml",
    body: {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: set.parent,
        namespace: set.namespace,
        labels: { [ID_LABEL]: set.id },
        annotations: {
          [TOOLING_ANNOTATION]: "pipeline-lib/v1",
          [KINDS_ANNOTATION]: [...new Set(groupKinds)].sort().join(","),
        },
      },
    },
  });
}

/**
 * Deletes the set's members (by its label, in the group-kinds given) that
 * are not among `keep`; resolves to what it deleted (`Kind namespace/name`).
 */
export async function pruneApplySet(
  kubeConfig: k8s.KubeConfig,
  set: ApplySet,
  groupKinds: readonly string[],
  keep: readonly k8s.KubernetesObject[],
): Promise<string[]> {
  const client = KubeJsonClient.forConfig(kubeConfig);
  const kept = new Set(keep.map((o) => `${groupKindOf(o)}/${o.metadata?.name}`));
  // Each group-kind once (the parent's record and the manifests overlap), all
  // listed at once: the lists are independent reads.
  const listed = await Promise.all(
    [...new Set(groupKinds)].map(async (groupKind) => {
      const dot = groupKind.indexOf(".");
      const kind = dot < 0 ? groupKind : groupKind.slice(0, dot);
      const group = dot < 0 ? "" : groupKind.slice(dot + 1);
      const apiVersion = group ? await preferredVersion(client, group) : "v1";
      if (!apiVersion) return []; // the cluster no longer serves that group
      const { path } = await client.locate({
        apiVersion,
        kind,
        metadata: { namespace: set.namespace },
      });
      const list = await client.request<{ items?: k8s.KubernetesObject[] }>("GET", path, {
        query: { labelSelector: `${PART_OF_LABEL}=${set.id}` },
      });
      return (list.items ?? [])
        .map((item) => ({ name: item.metadata?.name, item, apiVersion, kind, path }))
        .filter(({ name }) => name && !kept.has(`${groupKind}/${name}`));
    }),
  );
  const deleted: string[] = [];
  for (const { name, item, apiVersion, kind, path } of listed.flat()) {
    const ref = objectRef({ ...item, apiVersion, kind });
    await client
      .request("DELETE", `${path}/${encodeURIComponent(name!)}`, {
        body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" },
      })
      .catch((error: unknown) => {
        if (error instanceof KubeApiError && error.code === 404) return;
        throw new StageError(
          `pruning ${ref}, which left the manifests, failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      });
    deleted.push(ref);
  }
  return deleted;
}

/** The group's preferred version, asked once per client. */
function preferredVersion(client: KubeJsonClient, group: string): Promise<string | undefined> {
  let versions = preferredVersions.get(client);
  if (!versions) {
    versions = new Map<string, Promise<string | undefined>>();
    preferredVersions.set(client, versions);
  }
  let version = versions.get(group);
  if (!version) {
    version = client
      .request<{ preferredVersion?: { groupVersion?: string } }>(
        "GET",
        `/apis/${encodeURIComponent(group)}`,
      )
      .then(
        (found) => found.preferredVersion?.groupVersion,
        (error: unknown) => {
          versions.delete(group);
          if (error instanceof KubeApiError && error.code === 404) return undefined;
          throw error;
        },
      );
    versions.set(group, version);
  }
  return version;
}
const preferredVersions = new WeakMap<KubeJsonClient, Map<string, Promise<string | undefined>>>();

/**
 * Turning autoscaling on: the manifests stop setting spec.replicas, and a
 * server-side apply would then drop the field pipeline-lib owned, resetting
 * the Deployment to 1 replica until the autoscaler acts. As the Kubernetes
 * docs' "transferring ownership" steps do, a separate field manager first
 * takes spec.replicas at its live value, so it survives pipeline-lib letting
 * go of it and the autoscaler takes it from there. Resolves to true when it
 * handed the field over.
 */
export async function handOverReplicas(
  kubeConfig: k8s.KubeConfig,
  deployment: k8s.KubernetesObject,
): Promise<boolean> {
  const client = KubeJsonClient.forConfig(kubeConfig);
  const { path } = await client.locate(deployment);
  const live = await client.request<k8s.V1Deployment>("GET", path).catch((error: unknown) => {
    if (error instanceof KubeApiError && error.code === 404) return undefined;
    throw error;
  });
  const replicas = live?.spec?.replicas;
  const owned = (live?.metadata?.managedFields ?? []).some(
    (entry) =>
      entry.manager === FIELD_MANAGER &&
      entry.operation === "Apply" &&
      Boolean(
        ((entry.fieldsV1 as Record<string, Record<string, unknown>> | undefined)?.["f:spec"] ?? {})[
          "f:replicas"
        ],
      ),
  );
  if (replicas === undefined || !owned) return false;
  await client.request("PATCH", path, {
    query: { fieldManager: REPLICAS_HANDOVER_MANAGER },
    contentType: "application/apply-patch+yaml",
    body: {
      apiVersion: deployment.apiVersion,
      kind: deployment.kind,
      metadata: { name: deployment.metadata?.name, namespace: deployment.metadata?.namespace },
      spec: { replicas },
    },
  });
  return true;
}

export const REPLICAS_HANDOVER_MANAGER = "handover-to-hpa";
