import { KubeApiError } from "./kube-api-error.js";
import type { KubeJsonClient } from "./kube-json-client.js";

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  subresource?: string;
  fieldsV1?: FieldSet;
  [other: string]: unknown;
}

/** A managedFields `fieldsV1` tree: `f:name`, `k:{…}`, `v:…` and `.` keys, `{}` leaves. */
type FieldSet = { [key: string]: FieldSet };

interface WithManagedFields {
  metadata: { resourceVersion?: string; managedFields?: ManagedFieldsEntry[] };
}

/**
 * Moves the fields that `manager` owns through an Update (a JSON patch, such
 * as a rollback) into its Apply entry, and drops the Update entry.
 *
 * Without this, server-side apply keeps the fields a rollback restored under
 * a second owner, so a later apply that no longer sets one of them (an env
 * var removed since) could not remove it: the field would stay for good.
 * kubectl rollout undo has the same trap. Returns false when there was
 * nothing to move; retries when a controller writes the object meanwhile.
 */
export async function adoptUpdatedFields(
  client: KubeJsonClient,
  path: string,
  manager: string,
  signal?: AbortSignal,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const live = await client.request<WithManagedFields>("GET", path, { signal });
    const entries = live.metadata.managedFields ?? [];
    const isMain = (e: ManagedFieldsEntry) => e.manager === manager && !e.subresource;
    const apply = entries.find((e) => isMain(e) && e.operation === "Apply");
    const update = entries.find((e) => isMain(e) && e.operation === "Update");
    if (!apply || !update || apply.apiVersion !== update.apiVersion) return false;
    const merged = entries
      .filter((e) => e !== update)
      .map((e) =>
        e === apply ? { ...e, fieldsV1: union(apply.fieldsV1 ?? {}, update.fieldsV1 ?? {}) } : e,
      );
    try {
      await client.request("PATCH", path, {
        contentType: "application/json-patch+json",
        body: [
          { op: "test", path: "/metadata/resourceVersion", value: live.metadata.resourceVersion },
          { op: "replace", path: "/metadata/managedFields", value: merged },
        ],
        signal,
      });
      return true;
    } catch (error) {
      // A failed test op (422) or a conflict: someone wrote the object; read it again.
      const raced = error instanceof KubeApiError && [409, 422].includes(error.code);
      if (!raced || attempt >= 5) throw error;
    }
  }
}

function union(a: FieldSet, b: FieldSet): FieldSet {
  const result: FieldSet = { ...a };
  for (const [key, value] of Object.entries(b)) {
    result[key] = key in result ? union(result[key]!, value) : value;
  }
  return result;
}
