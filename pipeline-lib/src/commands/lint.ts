import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { PipelineConfig } from "../config/schema.js";
import type { EnvironmentOptions } from "../deploy/environment-target.js";
import { StageError, UsageError } from "../errors.js";
import { lintDockerfile } from "../lint/dockerfile-rules.js";
import type { Finding, LintArea } from "../lint/finding.js";
import { sortFindings } from "../lint/finding.js";
import { checkGroovySyntax, GroovyUnavailable } from "../lint/groovy-syntax.js";
import { lintJenkinsfile } from "../lint/jenkinsfile-rules.js";
import { lintManifests, type ManifestFile, type ParsedManifest } from "../lint/manifest-rules.js";
import { formatCheckstyle, formatText, summarize } from "../lint/report-format.js";
import { runShellcheck, ShellcheckUnavailable } from "../lint/shellcheck.js";
import { checkTypeScript } from "../lint/typescript-check.js";
import { cacheDisabled } from "../cache/workspace-key.js";
import type { CommandContext } from "./context.js";

export interface LintOptions {
  /** Lint only these files, each by its name's kind; nothing else (no TypeScript). */
  paths: string[];
  skip: LintArea[];
  format: "text" | "checkstyle";
  /** Write the report here; stdout then gets the summary. */
  output?: string;
  /** More warnings than this fail the lint. */
  maxWarnings?: number;
  warningsAsErrors: boolean;
  /** Also ask the environment's API server to admit the rendered manifests (needs env). */
  serverDryRun: boolean;
  env?: string;
  kubeconfig?: string;
  context?: string;
  /** A missing Java, Groovy or shellcheck is a warning instead of an error. */
  allowMissingTools: boolean;
  /**
   * tsc and ESLint keep their caches (node_modules/.cache/pipeline-lib); true
   * when absent. `--no-cache` or PIPELINE_NO_CACHE=1 lints everything afresh.
   */
  cache?: boolean;
}

export interface LintDeps {
  /** The CLI's commands, which Jenkinsfiles may call. */
  knownCommands: readonly string[];
  checkTypeScript: typeof checkTypeScript;
  checkGroovySyntax: typeof checkGroovySyntax;
  runShellcheck: typeof runShellcheck;
  serverDryRun: (
    config: PipelineConfig,
    manifests: readonly ParsedManifest[],
    options: EnvironmentOptions,
    ctx: CommandContext,
  ) => Promise<Finding[]>;
  /** Tracked files matching git pathspecs, relative to root. */
  listFiles: (root: string, pathspecs: readonly string[]) => Promise<string[]>;
}

export interface LintResult {
  findings: Finding[];
  errors: number;
  warnings: number;
  /** Milliseconds per area that ran. */
  durations: Partial<Record<LintArea, number>>;
  skipped: LintArea[];
}

/**
 * What the Jenkinsfile and shell areas lint when no paths are given: the
 * tracked files matching these, less any `fixtures/` folder (tests' broken
 * inputs, linted one by one by their tests).
 */
const SHELL_PATHSPECS = ["**/*.sh", ".ci/run"];
const JENKINSFILE_PATHSPECS = ["**/Jenkinsfile", "**/Jenkinsfile.*", "**/vars/*.groovy"];
const NOT_FIXTURES = ":(exclude,glob)**/fixtures/**";

/**
 * One gate over the code, the Dockerfile, the manifests, the Jenkinsfiles and
 * the shell scripts. Every finding names its file, line and rule; any error
 * (or, when asked, any warning) fails the lint with exit code 1.
 */
export async function lint(
  options: LintOptions,
  ctx: CommandContext,
  // The CLI's commands come from the caller (main.ts asks cli.ts), so this
  // command does not import the CLI that imports it.
  deps: Partial<LintDeps> & Pick<LintDeps, "knownCommands">,
): Promise<LintResult> {
  const { reporter } = ctx;
  if (options.serverDryRun && !options.env) {
    throw new UsageError(
      "--server-dry-run needs --env <name>: the environment whose cluster admits the manifests",
    );
  }
  const skipped = new Set(options.skip);
  const explicit = options.paths.length > 0;
  const config = explicit && !options.serverDryRun ? undefined : await ctx.config();
  const root = explicit ? ctx.cwd : config!.root;
  const files = explicit
    ? classify(
        options.paths.map((p) =>
          path.relative(root, path.resolve(ctx.cwd, p)).split(path.sep).join("/"),
        ),
      )
    : await discover(config!, skipped, deps.listFiles ?? gitLsFiles);
  if (explicit) skipped.add("typescript");

  const findings: Finding[] = [];
  const durations: LintResult["durations"] = {};
  const area = async (
    name: LintArea,
    inputs: readonly string[] | undefined,
    what: string,
    body: () => Promise<Finding[]>,
  ) => {
    if (skipped.has(name) || inputs?.length === 0) return;
    const started = Date.now();
    reporter.progress(`${name}: ${what}`);
    const found = await body();
    durations[name] = Date.now() - started;
    reporter.detail(`${name}: ${found.length} findings in ${(durations[name] / 1000).toFixed(1)}s`);
    findings.push(...found);
  };
  const missingTool = (file: string, rule: string, error: Error): Finding => ({
    file,
    line: 1,
    rule,
    severity: options.allowMissingTools ? "warning" : "error",
    message: `${error.message}${options.allowMissingTools ? " (skipped: --allow-missing-tools)" : ""}`,
  });
  const read = (file: string) => readFile(path.resolve(root, file), "utf8");
  const useCache = options.cache !== false && !cacheDisabled(ctx.env);

  // The quick areas run side by side; TypeScript, the slow one, beside them.
  await Promise.all([
    area(
      "typescript",
      undefined,
      `tsc --noEmit and eslint, no warnings allowed${useCache ? " (with their caches)" : ", no caches"}`,
      () =>
        (deps.checkTypeScript ?? checkTypeScript)({
          root,
          env: ctx.env,
          signal: ctx.signal,
          cache: useCache,
        }),
    ),
    area("dockerfile", files.dockerfiles, files.dockerfiles.join(", "), async () =>
      (
        await Promise.all(files.dockerfiles.map(async (f) => lintDockerfile(await read(f), f)))
      ).flat(),
    ),
    area("manifests", files.manifests, files.manifests.join(", "), async () => {
      const manifestFiles: ManifestFile[] = await Promise.all(
        files.manifests.map(async (file) => ({ file, text: await read(file) })),
      );
      const { findings: found, objects } = await lintManifests(manifestFiles, {
        appContainer: config && {
          deployment: config.deploy.deploymentName,
          container: config.deploy.containerName,
        },
      });
      if (options.serverDryRun && config) {
        const dryRun = deps.serverDryRun ?? defaultServerDryRun;
        found.push(
          ...(await dryRun(
            config,
            objects,
            { env: options.env!, kubeconfig: options.kubeconfig, context: options.context },
            ctx,
          )),
        );
      }
      return found;
    }),
    area("jenkinsfiles", files.jenkinsfiles, files.jenkinsfiles.join(", "), async () => {
      const { knownCommands } = deps;
      const found = (
        await Promise.all(
          files.jenkinsfiles.map(async (f) => lintJenkinsfile(await read(f), f, knownCommands)),
        )
      ).flat();
      try {
        found.push(
          ...(await (deps.checkGroovySyntax ?? checkGroovySyntax)(files.jenkinsfiles, {
            cwd: root,
            env: ctx.env,
            signal: ctx.signal,
          })),
        );
      } catch (error) {
        if (!(error instanceof GroovyUnavailable)) throw error;
        found.push(missingTool(files.jenkinsfiles[0]!, "jenkinsfile/groovy-unavailable", error));
      }
      return found;
    }),
    area("shell", files.scripts, `shellcheck ${files.scripts.join(", ")}`, async () => {
      try {
        return await (deps.runShellcheck ?? runShellcheck)(files.scripts, {
          cwd: root,
          env: ctx.env,
          signal: ctx.signal,
        });
      } catch (error) {
        if (!(error instanceof ShellcheckUnavailable)) throw error;
        return [missingTool(files.scripts[0]!, "shell/shellcheck-unavailable", error)];
      }
    }),
  ]);

  const sorted = sortFindings(findings);
  const errors = sorted.filter((f) => f.severity === "error").length;
  const warnings = sorted.length - errors;
  const result: LintResult = {
    findings: sorted,
    errors,
    warnings,
    durations,
    skipped: [...skipped],
  };

  const report = options.format === "checkstyle" ? formatCheckstyle(sorted) : formatText(sorted);
  if (options.output) {
    const file = path.resolve(ctx.cwd, options.output);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, report.endsWith("\n") ? report : `${report}\n`);
    reporter.progress(`report written to ${options.output}`);
  }
  const shown = options.output && options.format === "checkstyle" ? formatText(sorted) : report;
  reporter.result(shown.replace(/\n$/, ""), result);

  const tooManyWarnings =
    (options.warningsAsErrors && warnings > 0) ||
    (options.maxWarnings !== undefined && warnings > options.maxWarnings);
  if (errors > 0 || tooManyWarnings) {
    const why =
      errors > 0
        ? summarize(sorted)
        : `${summarize(sorted)}; ${options.warningsAsErrors ? "warnings are errors" : `at most ${options.maxWarnings} warnings allowed`}`;
    throw new StageError(`lint failed: ${why}`);
  }
  return result;
}

interface LintFiles {
  dockerfiles: string[];
  manifests: string[];
  jenkinsfiles: string[];
  scripts: string[];
}

/** The files of each area: the config's Dockerfile and manifests, the tracked Jenkinsfiles and scripts. */
async function discover(
  config: PipelineConfig,
  skipped: ReadonlySet<LintArea>,
  listFiles: LintDeps["listFiles"],
): Promise<LintFiles> {
  const rel = (file: string) => path.relative(config.root, file).split(path.sep).join("/");
  const manifests = skipped.has("manifests") ? [] : await manifestFiles(config, rel);
  const list = async (area: LintArea, pathspecs: readonly string[]) =>
    skipped.has(area) ? [] : listFiles(config.root, pathspecs);
  return {
    dockerfiles: [rel(config.image.dockerfilePath)],
    manifests,
    jenkinsfiles: await list("jenkinsfiles", JENKINSFILE_PATHSPECS),
    scripts: await list("shell", SHELL_PATHSPECS),
  };
}

/** The `*.yaml` / `*.yml` of the config's manifests folder, in name order. */
async function manifestFiles(
  config: PipelineConfig,
  rel: (file: string) => string,
): Promise<string[]> {
  const dir = config.deploy.manifestsDir;
  try {
    return (await readdir(dir))
      .filter((n) => /\.ya?ml$/.test(n))
      .sort()
      .map((n) => rel(path.join(dir, n)));
  } catch (error) {
    throw new UsageError(
      `cannot read the manifests folder ${dir} (deploy.manifests in ${config.file})`,
      { cause: error },
    );
  }
}

/** Each explicit path to its area, by name. */
function classify(paths: readonly string[]): LintFiles {
  const files: LintFiles = { dockerfiles: [], manifests: [], jenkinsfiles: [], scripts: [] };
  for (const file of paths) {
    const name = path.basename(file);
    if (/(^|\.)Dockerfile$|^Dockerfile(\.|$)/.test(name)) files.dockerfiles.push(file);
    else if (/\.ya?ml$/.test(name)) files.manifests.push(file);
    else if (/^Jenkinsfile(\.|$)|\.(groovy|jenkinsfile)$/.test(name)) files.jenkinsfiles.push(file);
    else if (/\.(sh|bash)$/.test(name) || file.endsWith(".ci/run")) files.scripts.push(file);
    else {
      throw new UsageError(
        `cannot tell what ${file} is: lint takes Dockerfiles, *.yaml manifests, Jenkinsfiles (*.groovy) and *.sh scripts`,
      );
    }
  }
  return files;
}

async function gitLsFiles(root: string, pathspecs: readonly string[]): Promise<string[]> {
  try {
    const specs = [...pathspecs.map((p) => `:(glob)${p}`), NOT_FIXTURES];
    const { stdout } = await promisify(execFile)("git", ["ls-files", "-z", "--", ...specs], {
      cwd: root,
    });
    return stdout.split("\0").filter(Boolean).sort();
  } catch (error) {
    throw new UsageError(`cannot list the tracked files of ${root} with git`, { cause: error });
  }
}

async function defaultServerDryRun(
  config: PipelineConfig,
  manifests: readonly ParsedManifest[],
  options: EnvironmentOptions,
  ctx: CommandContext,
): Promise<Finding[]> {
  const { serverDryRun } = await import("../lint/server-dry-run.js");
  return serverDryRun(config, manifests, options, {
    env: ctx.env,
    reporter: ctx.reporter,
    signal: ctx.signal,
  });
}
