import type { KubernetesObject } from "@kubernetes/client-node";
// Every kind's model has this shape; each is imported by its path on first use.
import type { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from "yaml";
import type { Finding, Severity } from "./finding.js";

/** A manifest file as read from disk. */
export interface ManifestFile {
  /** Relative path, for findings. */
  file: string;
  text: string;
}

/** One parsed object, with where it starts, for the server-side dry run. */
export interface ParsedManifest {
  readonly source: string;
  readonly object: KubernetesObject & Record<string, unknown>;
}

export interface ManifestLintOptions {
  /**
   * The app's Deployment and container: `pipeline deploy` sets its image by
   * digest, so an untagged image there is a placeholder, not a problem.
   */
  appContainer?: { deployment: string; container: string };
}

export const RECOMMENDED_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/managed-by",
] as const;

type Json = Record<string, unknown>;
type Path = (string | number)[];

/**
 * Lints the manifests offline: YAML, the Kubernetes OpenAPI schema of each
 * kind (kubernetes-models' validators, plus unknown fields from the
 * client-node models, since those validators let them pass), then the policy.
 */
export async function lintManifests(
  files: readonly ManifestFile[],
  options: ManifestLintOptions = {},
): Promise<{ findings: Finding[]; objects: ParsedManifest[] }> {
  const findings: Finding[] = [];
  const objects: ParsedManifest[] = [];
  const models = await loadModels();
  for (const { file, text } of files) {
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter });
    if (!Array.isArray(docs)) continue;
    for (const doc of docs) {
      const add = (path: Path, rule: string, message: string, severity: Severity = "error") =>
        findings.push({
          file,
          line: lineOf(doc, lineCounter, path),
          rule: `k8s/${rule}`,
          severity,
          message,
        });
      const error = doc.errors[0];
      if (error) {
        findings.push({
          file,
          line: lineCounter.linePos(error.pos[0]).line,
          rule: "k8s/yaml",
          severity: "error",
          message: error.message.split("\n")[0]!,
        });
        continue;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue;
      if (typeof value !== "object" || Array.isArray(value)) {
        add([], "schema", "a manifest must be a mapping with apiVersion, kind and metadata");
        continue;
      }
      const object = value as KubernetesObject & Json;
      const name = `${object.kind ?? "object"} ${object.metadata?.name ?? "(unnamed)"}`;
      if (!object.apiVersion || !object.kind || !object.metadata?.name) {
        add([], "schema", `${name}: every manifest needs apiVersion, kind and metadata.name`);
        continue;
      }
      objects.push({ source: `${file}:${lineOf(doc, lineCounter, [])}`, object });
      await checkSchema(object, models, add);
      checkPolicy(object, options, add);
    }
  }
  return { findings, objects };
}

type Add = (path: Path, rule: string, message: string, severity?: Severity) => void;

// ---- schema -------------------------------------------------------------------

interface Models {
  validator(apiVersion: string, kind: string): Promise<((object: Json) => AjvError[]) | undefined>;
  typeMap(name: string): AttributeType[] | undefined;
}
/** A kubernetes-models class, such as `Deployment`: `validate()` throws the schema's errors. */
type ModelClass = (new (data: Json) => Pick<Deployment, "validate">) & { kind?: string };
interface AttributeType {
  name: string;
  baseName: string;
  type: string;
}
interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

async function loadModels(): Promise<Models> {
  const clientModels = (await import("@kubernetes/client-node")) as unknown as Record<
    string,
    { getAttributeTypeMap?: () => AttributeType[] } | undefined
  >;
  return {
    async validator(apiVersion, kind) {
      const [group, version] = apiVersion.includes("/")
        ? apiVersion.split("/", 2)
        : [undefined, apiVersion];
      if (!/^[A-Za-z0-9]+$/.test(kind) || !/^[a-z0-9.]+$/.test(`${group ?? ""}${version}`)) {
        return undefined;
      }
      const specifier = `kubernetes-models/${group ? `${group}/` : ""}${version}/${kind}`;
      const module = (await import(specifier).catch(() => undefined)) as
        Record<string, ModelClass | undefined> | undefined;
      const Model = module?.[kind];
      if (!Model || Model.kind !== kind) return undefined;
      return (object) => {
        try {
          new Model(object).validate();
          return [];
        } catch (error) {
          const errors = (error as { errors?: AjvError[] }).errors;
          if (!errors) throw error;
          return errors;
        }
      };
    },
    typeMap(name) {
      return clientModels[name]?.getAttributeTypeMap?.();
    },
  };
}

async function checkSchema(object: KubernetesObject & Json, models: Models, add: Add) {
  const { apiVersion, kind } = object as { apiVersion: string; kind: string };
  const validate = await models.validator(apiVersion, kind);
  if (!validate) {
    add(
      ["kind"],
      "unknown-kind",
      `no built-in schema for ${apiVersion} ${kind}; not validated offline`,
      "warning",
    );
    return;
  }
  const seen = new Set<string>();
  for (const error of validate(object)) {
    // anyOf/oneOf branches repeat one problem several times; report each place once.
    if (error.keyword === "anyOf" || error.keyword === "oneOf") continue;
    const path = pointerToPath(error.instancePath);
    const where = path.join(".") || "(top level)";
    const missing = error.params.missingProperty;
    const message =
      typeof missing === "string"
        ? `${where}: missing required field "${missing}"`
        : `${where}: ${error.message ?? error.keyword}${
            Array.isArray(error.params.allowedValues)
              ? ` (${error.params.allowedValues.join(", ")})`
              : ""
          }`;
    if (seen.has(message)) continue;
    seen.add(message);
    add(path, "schema", message);
  }
  const version = apiVersion.split("/").at(-1)!;
  const typeName = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
  if (models.typeMap(typeName)) unknownFields(object, typeName, [], models, add);
}

/** Kubernetes rejects unknown fields under strict field validation; so does lint. */
function unknownFields(value: unknown, type: string, path: Path, models: Models, add: Add): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) {
      value.forEach((item, i) => unknownFields(item, array[1]!, [...path, i], models, add));
    }
    return;
  }
  const record = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (record) {
    if (typeof value === "object" && !Array.isArray(value)) {
      for (const [key, item] of Object.entries(value)) {
        unknownFields(item, record[1]!, [...path, key], models, add);
      }
    }
    return;
  }
  const attributes = models.typeMap(type);
  if (!attributes || typeof value !== "object" || Array.isArray(value)) return;
  for (const [key, item] of Object.entries(value as Json)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (!attribute) {
      const known = attributes.map((a) => a.baseName);
      const close = known.find((k) => closeTo(k, key));
      const at = [...path, key].join(".");
      add(
        [...path, key],
        "unknown-field",
        `${at}: unknown field "${key}" in ${type.replace(/^V\d+(alpha\d+|beta\d+)?/, "")}` +
          (close ? ` (did you mean "${close}"?)` : ""),
      );
      continue;
    }
    unknownFields(item, attribute.type, [...path, key], models, add);
  }
}

/** Edit distance at most 2, ignoring case: a typo, not another field. */
function closeTo(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (Math.abs(x.length - y.length) > 2) return false;
  let previous = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[y.length]! <= 2;
}

function pointerToPath(pointer: string): Path {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((part) => (/^[0-9]+$/.test(part) ? Number(part) : part));
}

// ---- policy -------------------------------------------------------------------

const POD_SPEC_PATH: Record<string, Path> = {
  Pod: ["spec"],
  Deployment: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

function checkPolicy(object: KubernetesObject & Json, options: ManifestLintOptions, add: Add) {
  const kind = object.kind!;
  const name = object.metadata!.name!;
  const labels = object.metadata?.labels ?? {};
  const missingLabels = RECOMMENDED_LABELS.filter((label) => !labels[label]);
  if (missingLabels.length > 0) {
    add(
      object.metadata?.labels ? ["metadata", "labels"] : ["metadata"],
      "recommended-labels",
      `${kind} ${name} has no label ${missingLabels.join(", ")}`,
      "warning",
    );
  }

  const podPath = POD_SPEC_PATH[kind];
  if (!podPath) return;
  const pod = get(object, podPath) as Json | undefined;
  if (!pod || typeof pod !== "object") return;
  const containers = Array.isArray(pod.containers) ? (pod.containers as Json[]) : [];
  const podSecurity = (pod.securityContext ?? {}) as Json;
  const app = options.appContainer;

  const nonRootEverywhere = containers.every(
    (c) => (c.securityContext as Json | undefined)?.runAsNonRoot === true,
  );
  if (podSecurity.runAsNonRoot !== true && !nonRootEverywhere) {
    add(
      pod.securityContext ? [...podPath, "securityContext"] : podPath,
      "run-as-non-root",
      `${kind} ${name}: set securityContext.runAsNonRoot: true (on the pod or every container)`,
    );
  }

  containers.forEach((container, i) => {
    const at: Path = [...podPath, "containers", i];
    const what = `${kind} ${name} container ${String(container.name)}`;
    if (kind === "Deployment") {
      const missing = (["readinessProbe", "livenessProbe"] as const).filter((p) => !container[p]);
      if (missing.length > 0) add(at, "probes", `${what} has no ${missing.join(" or ")}`);
    }
    const resources = (container.resources ?? {}) as { limits?: Json; requests?: Json };
    const missingResources = [
      !resources.limits?.memory && "memory limit",
      Object.keys(resources.requests ?? {}).length === 0 && "resource requests",
    ].filter(Boolean);
    if (missingResources.length > 0) {
      add(
        container.resources ? [...at, "resources"] : at,
        "resources",
        `${what} has no ${missingResources.join(" and no ")}`,
      );
    }
    const security = container.securityContext as Json | undefined;
    if (security?.readOnlyRootFilesystem !== true) {
      add(
        security ? [...at, "securityContext"] : at,
        "read-only-root-filesystem",
        `${what}: set securityContext.readOnlyRootFilesystem: true`,
      );
    }
    const image = typeof container.image === "string" ? container.image : undefined;
    const isApp =
      kind === "Deployment" && app?.deployment === name && app.container === container.name;
    if (image && !isApp) {
      const problem = imageProblem(image);
      if (problem) add([...at, "image"], "image-tag", `${what}: image ${image} ${problem}`);
    } else if (image && isApp && /:latest$/.test(image)) {
      add([...at, "image"], "image-tag", `${what}: image ${image} is on latest`);
    }
  });
}

function imageProblem(image: string): string | undefined {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const last = image.slice(image.lastIndexOf("/") + 1);
  if (!last.includes(":")) return "has no tag (that means latest): pin a tag or a digest";
  if (last.endsWith(":latest")) return "is on latest: pin a tag or a digest";
  return undefined;
}

function get(value: unknown, path: Path): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/** The line of the deepest node on `path` that exists (the key's line for a mapping entry). */
function lineOf(doc: Document, lineCounter: LineCounter, path: Path): number {
  let node: unknown = doc.contents;
  let offset = doc.contents?.range?.[0] ?? 0;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (!pair) break;
      if (isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof key === "number") {
      const item = node.items[key] as { range?: [number, number, number] } | undefined;
      if (!item) break;
      if (item.range) offset = item.range[0];
      node = item;
    } else break;
  }
  return lineCounter.linePos(offset).line;
}
