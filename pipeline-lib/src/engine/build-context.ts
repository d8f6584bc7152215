import { access, readFile, readdir } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import dockerignore from "@balena/dockerignore";
import tar from "tar-fs";
import { ConfigError } from "../errors.js";

/** The file name under which an extra CA bundle is added to the context. */
export const EXTRA_CA_FILE_NAME = "extra-ca.pem";

/**
 * The files Docker would send for a build: everything under the context folder
 * that `.dockerignore` admits, plus the Dockerfile and `.dockerignore` itself,
 * which Docker always sends. Paths are relative to the context, with `/`.
 */
export async function listContextFiles(contextDir: string, dockerfile: string): Promise<string[]> {
  await access(path.join(contextDir, dockerfile)).catch((error: unknown) => {
    throw new ConfigError(
      `Dockerfile ${path.join(contextDir, dockerfile)} does not exist; set image.dockerfile in the config (relative to image.context)`,
      { cause: error },
    );
  });
  const ignoreText = await readFile(path.join(contextDir, ".dockerignore"), "utf8").catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "";
      throw error;
    },
  );
  const ignore = dockerignore.default({ ignorecase: false }).add(ignoreText);
  const negations = ignoreText
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("!"))
    .map((line) => line.slice(1).replace(/^\/+/, ""));

  // Docker walks every folder unless it is excluded and no `!` pattern can
  // re-include something inside it; pruning early keeps node_modules out of the walk.
  const mayReinclude = (dir: string) =>
    negations.some((p) => p.startsWith(`${dir}/`) || /^[*?[]/.test(p) || p.startsWith("**"));

  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(contextDir, rel), { withFileTypes: true });
    for (const entry of entries) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (ignore.ignores(child) && !mayReinclude(child)) continue;
        await walk(child);
      } else if (!ignore.ignores(child)) {
        files.push(child);
      }
    }
  };
  await walk("");

  const always = [dockerfile, ".dockerignore"].filter(
    (f) => !files.includes(f) && (f !== ".dockerignore" || ignoreText !== ""),
  );
  return [...files, ...always].sort();
}

export interface BuildContext {
  /** Files sent to the daemon, relative to the context folder. */
  readonly files: readonly string[];
  /** The tar stream to hand to the Docker Engine. */
  readonly tar: Readable;
}

export interface PackContextOptions {
  contextDir: string;
  /** The Dockerfile, relative to the context folder. */
  dockerfile: string;
  /** The files to send, when the caller has listed them already (listContextFiles). */
  files?: readonly string[];
  /**
   * An extra CA bundle for builds behind TLS inspection, added to the context as
   * `extra-ca.pem`. The Dockerfile decides which stages use it; it never belongs
   * in the final image.
   */
  extraCaFile?: string;
}

export async function packContext(options: PackContextOptions): Promise<BuildContext> {
  const { contextDir, dockerfile, extraCaFile } = options;
  const files = options.files ?? (await listContextFiles(contextDir, dockerfile));
  if (!files.includes(dockerfile) || dockerfile.startsWith("../")) {
    throw new ConfigError(`Dockerfile ${dockerfile} is not inside the build context ${contextDir}`);
  }
  const extraCa = extraCaFile ? await readExtraCa(extraCaFile) : undefined;
  const entries = files.filter((f) => !(extraCa && f === EXTRA_CA_FILE_NAME));
  const pack = tar.pack(contextDir, {
    entries,
    // Reproducible headers: the daemon's cache keys on content, not on who owns it.
    map: (header) => ({ ...header, uid: 0, gid: 0, uname: "", gname: "" }),
    finalize: extraCa === undefined,
    finish: (p) => {
      if (extraCa === undefined) return;
      p.entry({ name: EXTRA_CA_FILE_NAME, mode: 0o644, mtime: new Date(0) }, extraCa, () =>
        p.finalize(),
      );
    },
  });
  return { files: entries, tar: pack as unknown as Readable };
}

async function readExtraCa(file: string): Promise<Buffer> {
  try {
    const pem = await readFile(file);
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new ConfigError(`extra CA bundle ${file} holds no PEM certificate`);
    }
    return pem;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cannot read extra CA bundle ${file}`, { cause: error });
  }
}
