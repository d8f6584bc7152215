import { readFile } from "node:fs/promises";
import path from "node:path";
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { configSchema, type PipelineConfig } from "./schema.js";

export const DEFAULT_CONFIG_FILE = "pipeline.config.yaml";

export interface LoadConfigOptions {
  /** The config file; relative to `cwd`. */
  file?: string;
  cwd?: string;
  /** Values for `${VAR}` and `${VAR:-default}` in string fields. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads, expands and validates the project config. Every error names the file,
 * the line, the field and the reason, and is a ConfigError (exit code 2).
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<PipelineConfig> {
  const cwd = options.cwd ?? process.cwd();
  const file = path.resolve(cwd, options.file ?? DEFAULT_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const hint =
      (error as NodeJS.ErrnoException).code === "ENOENT"
        ? `; create it (see pipeline.config.yaml in the repository root) or pass --config <file>`
        : "";
    throw new ConfigError(`cannot read config file ${file}${hint}`, { cause: error });
  }
  return parseConfig(text, { file, env: options.env ?? process.env });
}

/** Validates config text; `file` is used for messages and to resolve relative paths. */
export function parseConfig(
  text: string,
  { file, env }: { file: string; env: NodeJS.ProcessEnv },
): PipelineConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const where = (p: readonly PropertyKey[]) => locate(doc, lineCounter, file, p);
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = lineCounter.linePos(first.pos[0]).line;
    throw new ConfigError(`${file}:${line}: invalid YAML: ${first.message.split("\n")[0]}`);
  }
  const raw = expandEnv(doc.toJS() ?? {}, [], env, where);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(formatIssues(result.error.issues, where));
  }
  const root = path.dirname(file);
  const data = result.data;
  const contextDir = path.resolve(root, data.image.context);
  return {
    ...data,
    file,
    root,
    app: {
      ...data.app,
      contractPath: data.app.contract ? path.resolve(root, data.app.contract) : undefined,
    },
    image: {
      ...data.image,
      contextDir,
      dockerfilePath: path.resolve(contextDir, data.image.dockerfile),
    },
    deploy: {
      ...data.deploy,
      manifestsDir: path.resolve(root, data.deploy.manifests),
      deploymentName: data.deploy.deployment ?? data.app.name,
      containerName: data.deploy.container ?? data.app.name,
    },
  };
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function expandEnv(
  value: unknown,
  at: PropertyKey[],
  env: NodeJS.ProcessEnv,
  where: (p: readonly PropertyKey[]) => string,
): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(
        `${where(at)}: ${fieldName(at)} uses \${${name}}, but ${name} is not set; ` +
          `set it or write \${${name}:-default}`,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, [...at, i], env, where));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expandEnv(v, [...at, k], env, where)]),
    );
  }
  return value;
}

function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  where: (p: readonly PropertyKey[]) => string,
): string {
  const lines = issues.map((issue) => {
    let at = [...issue.path];
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      at = [...at, issue.keys[0]!];
      message = `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`;
    }
    return `${where(at)}: ${fieldName(at)}: ${message}`;
  });
  return lines.length === 1
    ? `invalid config: ${lines[0]}`
    : `invalid config (${lines.length} problems):\n  ${lines.join("\n  ")}`;
}

function fieldName(at: readonly PropertyKey[]): string {
  return at.length === 0 ? "(root)" : at.map(String).join(".");
}

/** `file:line` of the deepest node on the path that exists in the document. */
function locate(
  doc: Document,
  lineCounter: LineCounter,
  file: string,
  at: readonly PropertyKey[],
): string {
  for (let depth = at.length; depth >= 0; depth--) {
    const node: unknown =
      depth === 0 ? doc.contents : doc.getIn(at.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      return `${file}:${lineCounter.linePos(node.range[0]).line}`;
    }
  }
  return file;
}
