import type * as k8s from "@kubernetes/client-node";
import { StageError, UsageError } from "../errors.js";
import { canonicalJson } from "./canonical-json.js";
import { KubeApiError, toKubeApiError, type KubeStatus } from "./kube-api-error.js";
import { KubeJsonClient } from "./kube-json-client.js";

/** The one field manager every object pipeline-lib applies is owned by. */
export const FIELD_MANAGER = "pipeline-lib";

export type ApplyChange = "created" | "configured" | "unchanged";

export interface AppliedObject {
  /** `Kind namespace/name`, or `Kind name` for cluster-scoped kinds. */
  readonly ref: string;
  readonly change: ApplyChange;
  /** The object as the API server stored it (or would have, in a dry run). */
  readonly object: k8s.KubernetesObject;
}

export interface ApplyOptions {
  /** Ask the server to validate, default and admit every object, and store nothing (dryRun=All). */
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface Rejection {
  readonly ref: string;
  /** The API server's words (or the network error's). */
  readonly message: string;
  readonly status?: KubeStatus;
}

/** The API server refused one or more objects. Exit code 1. */
export class ApplyRejected extends StageError {
  constructor(
    readonly rejections: readonly Rejection[],
    dryRun: boolean,
    options?: ErrorOptions,
  ) {
    const verb = dryRun ? "would reject" : "rejected";
    super(
      rejections.length === 1
        ? `the API server ${verb} ${rejections[0]!.ref}: ${rejections[0]!.message}`
        : `the API server ${verb} ${rejections.length} objects:\n` +
            rejections.map((r) => `  ${r.ref}: ${r.message}`).join("\n"),
      options,
    );
  }
}

/**
 * Server-side applies each object in order under FIELD_MANAGER, forcing
 * ownership of the fields it sets (the pipeline is the source of truth).
 * A real apply stops at the first rejection, leaving the objects before it
 * applied; a dry run checks every object and reports every rejection.
 * Unknown fields are rejected (fieldValidation=Strict) rather than dropped.
 */
export async function applyObjects(
  kubeConfig: k8s.KubeConfig,
  objects: readonly k8s.KubernetesObject[],
  { dryRun = false, signal }: ApplyOptions = {},
): Promise<AppliedObject[]> {
  objects.forEach(assertApplicable);
  const client = KubeJsonClient.forConfig(kubeConfig);
  if (dryRun) {
    // Nothing is stored, so the objects are checked all at once; the
    // rejections are reported in the objects' order.
    const refs = objects.map(objectRef);
    const results = await Promise.allSettled(
      objects.map((object, i) => applyOne(client, object, refs[i]!, true, signal)),
    );
    const failed = results.flatMap((result, i) =>
      result.status === "rejected" ? [{ ref: refs[i]!, error: result.reason as unknown }] : [],
    );
    if (failed.length === 0) {
      return results.map((result) => (result as PromiseFulfilledResult<AppliedObject>).value);
    }
    if (signal?.aborted) throw failed[0]!.error;
    throw new ApplyRejected(
      failed.map(({ ref, error }) => rejection(ref, error)),
      true,
      { cause: toKubeApiError(failed[0]!.error) },
    );
  }
  const applied: AppliedObject[] = [];
  for (const object of objects) {
    const ref = objectRef(object);
    try {
      applied.push(await applyOne(client, object, ref, false, signal));
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApplyRejected([rejection(ref, error)], false, { cause: toKubeApiError(error) });
    }
  }
  return applied;
}

function rejection(ref: string, error: unknown): Rejection {
  const cause = toKubeApiError(error);
  return {
    ref,
    message: cause instanceof Error ? cause.message : String(cause),
    status: cause instanceof KubeApiError ? cause.status : undefined,
  };
}

/** Applies a Namespace (labels included); returns what changed. */
export async function ensureNamespace(
  kubeConfig: k8s.KubeConfig,
  name: string,
  labels: Record<string, string> = {},
  options: ApplyOptions = {},
): Promise<AppliedObject> {
  const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
  const [applied] = await applyObjects(kubeConfig, [namespace], options);
  return applied!;
}

/** `Deployment test/app`, `Namespace test`. */
export function objectRef(object: k8s.KubernetesObject): string {
  const { kind = "object", metadata } = object;
  const name = metadata?.name ?? "(unnamed)";
  return metadata?.namespace ? `${kind} ${metadata.namespace}/${name}` : `${kind} ${name}`;
}

async function applyOne(
  client: KubeJsonClient,
  object: k8s.KubernetesObject,
  ref: string,
  dryRun: boolean,
  signal: AbortSignal | undefined,
): Promise<AppliedObject> {
  const { path } = await client.locate(object);
  const before = await client
    .request<k8s.KubernetesObject>("GET", path, { signal })
    .catch((error: unknown) => {
      if (error instanceof KubeApiError && error.code === 404) return undefined;
      throw error;
    });
  const after = await client.request<k8s.KubernetesObject>("PATCH", path, {
    query: {
      fieldManager: FIELD_MANAGER,
      force: "true",
      fieldValidation: "Strict",
      dryRun: dryRun ? "All" : undefined,
    },
    // JSON is YAML, which is what the apply patch type is named after.
    contentType: "application/apply-patch+yaml",
    body: object,
    signal,
  });
  const change: ApplyChange = !before
    ? "created"
    : sameContent(before, after)
      ? "unchanged"
      : "configured";
  return { ref, change, object: after };
}

function assertApplicable(object: k8s.KubernetesObject, index: number): void {
  const missing = [
    !object.apiVersion && "apiVersion",
    !object.kind && "kind",
    !object.metadata?.name && "metadata.name",
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new UsageError(
      `object ${index + 1} to apply (${objectRef(object)}) has no ${missing.join(", ")}`,
    );
  }
}

/**
 * Whether an apply changed anything. resourceVersion alone would do for a real
 * apply if controllers were not writing status at the same moment, and a dry
 * run leaves it as it was; so compare everything but status and bookkeeping.
 */
function sameContent(before: k8s.KubernetesObject, after: k8s.KubernetesObject): boolean {
  return canonicalJson(withoutBookkeeping(before)) === canonicalJson(withoutBookkeeping(after));
}

function withoutBookkeeping(object: k8s.KubernetesObject): unknown {
  const { status: _status, ...rest } = object as k8s.KubernetesObject & { status?: unknown };
  const { resourceVersion: _rv, managedFields, ...metadata } = rest.metadata ?? {};
  return {
    ...rest,
    metadata: {
      ...metadata,
      managedFields: managedFields?.map(({ time: _time, ...entry }) => entry),
    },
  };
}
