import type * as k8s from "@kubernetes/client-node";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";
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

interface AccessObject extends k8s.KubernetesObject {
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/**
 * k8s/access/ for fresh namespaces (as test/security/deployer.test.ts renders
 * it): `test`, `production` and `pipeline-system` become the given names, and
 * the ClusterRole gets a suffix, so nothing an admin applied is touched.
 */
export async function renderAccess(
  root: string,
  names: Record<string, string>,
  suffix: string,
): Promise<AccessObject[]> {
  const text = await readFile(path.join(root, "k8s/access/deployer.yaml"), "utf8");
  const rename = (name: string) => names[name] ?? name;
  return parseAllDocuments(text).map((doc) => {
    const object = doc.toJS() as AccessObject;
    const metadata = object.metadata!;
    if (object.kind === "Namespace") metadata.name = rename(metadata.name!);
    if (object.kind === "ClusterRole") metadata.name = `${metadata.name}-${suffix}`;
    if (metadata.namespace) metadata.namespace = rename(metadata.namespace);
    if (object.roleRef) object.roleRef.name = `${object.roleRef.name}-${suffix}`;
    for (const subject of object.subjects ?? []) {
      if (subject.namespace) subject.namespace = rename(subject.namespace);
    }
    return object;
  });
}

/** A kubeconfig holding nothing but the API server, its CA and a bearer token. */
export function tokenKubeconfig(
  admin: k8s.KubeConfig,
  token: string,
  server = admin.getCurrentCluster()!.server,
): string {
  const cluster = admin.getCurrentCluster()!;
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "cluster",
        cluster: {
          server,
          ...(cluster.caData ? { "certificate-authority-data": cluster.caData } : {}),
          ...(cluster.caFile ? { "certificate-authority": cluster.caFile } : {}),
        },
      },
    ],
    users: [{ name: "pipeline-deployer", user: { token } }],
    contexts: [{ name: "deployer", context: { cluster: "cluster", user: "pipeline-deployer" } }],
    "current-context": "deployer",
  });
}
