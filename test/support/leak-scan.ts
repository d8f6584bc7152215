import type * as k8s from "@kubernetes/client-node";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { KubeJsonClient } from "../../pipeline-lib/src/kube/kube-json-client.js";

/** A secret the pipeline is handed, and the spellings of it that count as a leak. */
export interface MarkedSecret {
  name: string;
  value: string;
  /** Also look for these encodings (base64 for credentials that travel in auth headers or pull secrets). */
  base64?: boolean;
}

interface Spelling {
  secret: string;
  form: string;
  text: string;
}

/**
 * Looks through texts for every spelling of every secret: as given, URL-encoded,
 * JSON-escaped, and base64 (standard and URL-safe) where asked. Collects where
 * each one turned up, so that a failing test names the place.
 */
export class LeakScanner {
  readonly #spellings: Spelling[] = [];
  readonly leaks: string[] = [];
  readonly scanned: string[] = [];

  constructor(secrets: readonly MarkedSecret[]) {
    for (const { name, value, base64 } of secrets) {
      const forms: [string, string][] = [
        ["as given", value],
        ["URL-encoded", encodeURIComponent(value)],
        ["JSON-escaped", JSON.stringify(value).slice(1, -1)],
      ];
      if (base64) {
        forms.push(["base64", Buffer.from(value).toString("base64").replace(/=+$/, "")]);
        forms.push(["base64url", Buffer.from(value).toString("base64url")]);
      }
      const seen = new Set<string>();
      for (const [form, text] of forms) {
        if (seen.has(text)) continue;
        seen.add(text);
        this.#spellings.push({ secret: name, form, text });
      }
    }
  }

  /** The secrets (and spellings) found in a text; an empty list when it is clean. */
  find(text: string): string[] {
    return this.#spellings
      .filter((s) => text.includes(s.text))
      .map((s) => `${s.secret} (${s.form})`);
  }

  scan(where: string, text: string): void {
    this.scanned.push(where);
    for (const found of this.find(text)) this.leaks.push(`${found} in ${where}`);
  }
}

/** Every file under `dir` changed since `sinceMs`, .git left out. */
export async function filesChangedSince(dir: string, sinceMs: number): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== ".git" && entry.name !== "node_modules") await walk(full);
      } else if (entry.isFile() && (await stat(full)).mtimeMs >= sinceMs) {
        found.push(full);
      }
    }
  };
  await walk(dir);
  return found.sort();
}

interface ApiResource {
  name: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
}

/**
 * Every object in a namespace, of every namespaced resource the API server
 * lists (found by discovery, so nothing is left out by a fixed list), as
 * `Kind/name` and the object. Resources that cannot be listed are skipped.
 */
export async function everyObjectIn(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
): Promise<{ ref: string; object: k8s.KubernetesObject }[]> {
  const client = KubeJsonClient.forConfig(kubeConfig);
  const bases = ["/api/v1"];
  const groups = await client.request<{
    groups: { preferredVersion: { groupVersion: string } }[];
  }>("GET", "/apis");
  for (const group of groups.groups) bases.push(`/apis/${group.preferredVersion.groupVersion}`);
  const objects: { ref: string; object: k8s.KubernetesObject }[] = [];
  for (const base of bases) {
    let resources: ApiResource[];
    try {
      ({ resources } = await client.request<{ resources: ApiResource[] }>("GET", base));
    } catch {
      continue; // an aggregated API that is not serving
    }
    for (const resource of resources) {
      if (!resource.namespaced || resource.name.includes("/")) continue;
      if (!resource.verbs.includes("list")) continue;
      let list: { items?: k8s.KubernetesObject[] };
      try {
        list = await client.request("GET", `${base}/namespaces/${namespace}/${resource.name}`);
      } catch {
        continue;
      }
      for (const object of list.items ?? []) {
        // Items of a list carry no kind of their own.
        objects.push({
          ref: `${resource.kind}/${object.metadata?.name ?? "?"}`,
          object: { ...object, kind: resource.kind },
        });
      }
    }
  }
  return objects;
}
