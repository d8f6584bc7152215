import type { KubernetesObject } from "@kubernetes/client-node";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import { ConfigError } from "../errors.js";

/** One object from the manifests folder, with where it came from for messages. */
export interface ManifestObject {
  readonly source: string;
  readonly object: KubernetesObject & Record<string, unknown>;
}

/**
 * Reads every `*.yaml` / `*.yml` in the folder (not recursively, in name
 * order), one object per YAML document. Errors name the file and line.
 */
export async function readManifests(dir: string): Promise<ManifestObject[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (error) {
    throw new ConfigError(
      `cannot read the manifests folder ${dir} (deploy.manifests in the config)`,
      { cause: error },
    );
  }
  if (names.length === 0) {
    throw new ConfigError(`the manifests folder ${dir} has no .yaml files (deploy.manifests)`);
  }
  const objects: ManifestObject[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(await readFile(file, "utf8"), { lineCounter });
    if (!Array.isArray(docs)) continue; // an empty file
    for (const doc of docs) {
      const line = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]).line : 1;
      const source = `${path.relative(process.cwd(), file) || file}:${line}`;
      const error = doc.errors[0];
      if (error) {
        const at = lineCounter.linePos(error.pos[0]).line;
        throw new ConfigError(`${file}:${at}: invalid YAML: ${error.message.split("\n")[0]}`);
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue;
      const object = value as Partial<KubernetesObject> & Record<string, unknown>;
      if (
        typeof object !== "object" ||
        !object.apiVersion ||
        !object.kind ||
        !object.metadata?.name
      ) {
        throw new ConfigError(`${source}: every manifest needs apiVersion, kind and metadata.name`);
      }
      objects.push({ source, object: object });
    }
  }
  return objects;
}
