/**
 * The Jenkins shared library's steps (`pipeline-lib/vars/`) take the stages
 * from the stage definitions: this renders the generated regions of those
 * files, and a test holds the committed files to it. Regenerate with
 * `npx tsx pipeline-lib/src/stages/write-library-vars.ts`.
 */
import { PACKAGE_VERSION } from "../package-root.js";
import {
  stageDefinitions,
  type CredentialBinding,
  type PipelineName,
  type StageCondition,
  type StageDefinition,
} from "./stage-definitions.js";

/** The pipeline `standardPipeline` runs: every branch builds, tests and pushes; develop deploys. */
export const STANDARD_PIPELINE: PipelineName = "dev";

/**
 * What `pipeline deploy --strategy` takes, for one deploy instead of the
 * config's `environments.<env>.strategy.type`: the steps' `strategy` parameter
 * takes these and refuses anything else before a command runs.
 */
export const DEPLOY_STRATEGIES = ["rolling", "canary"] as const;

/**
 * The environment a deploy stage deploys to, or undefined for any other stage.
 * A deploy stage's command is one `pipeline deploy --env <env> …` call and
 * nothing after it, so the steps can append `--strategy <type>` to it.
 */
export function deployEnvironment(stage: StageDefinition): string | undefined {
  return /^npx --no-install pipeline deploy --env (\S+)(?: [^;&|()`$]*)?$/.exec(stage.command)?.[1];
}

/** A generated region: the lines between `// BEGIN GENERATED: <name>` and `// END GENERATED: <name>`. */
export interface GeneratedRegion {
  file: "pipelineStage.groovy" | "standardPipeline.groovy";
  name: string;
  render(): string;
}

export const generatedRegions: readonly GeneratedRegion[] = [
  { file: "pipelineStage.groovy", name: "version", render: renderLibraryVersion },
  { file: "pipelineStage.groovy", name: "stages", render: renderStageTable },
  { file: "pipelineStage.groovy", name: "strategies", render: renderDeployStages },
  { file: "standardPipeline.groovy", name: "stage ids", render: renderStageIds },
  { file: "standardPipeline.groovy", name: "strategies", render: renderDeployEnvironments },
  { file: "standardPipeline.groovy", name: "stages", render: renderStandardStages },
];

/**
 * The library's own version (pipeline-lib's package.json), which
 * pipelineStage hands each CLI call as PIPELINE_LIBRARY_VERSION: a CLI of
 * another version refuses to run (main.ts), so `@Library('pipeline-lib@…')`
 * and the installed package cannot drift apart silently.
 */
export function renderLibraryVersion(): string {
  return `@groovy.transform.Field\nfinal String LIBRARY_VERSION = ${quote(PACKAGE_VERSION)}\n`;
}

/** The text between a region's markers (without them), or undefined when the markers are missing. */
export function regionOf(text: string, name: string): string | undefined {
  const { begin, end } = markers(name);
  const start = text.indexOf(begin);
  const stop = text.indexOf(end);
  if (start < 0 || stop < start) return undefined;
  const from = text.indexOf("\n", start) + 1;
  return text.slice(from, text.lastIndexOf("\n", stop) + 1);
}

/** The text with a region's body replaced (the markers keep their indentation). */
export function replaceRegion(text: string, name: string, body: string): string {
  const current = regionOf(text, name);
  if (current === undefined) throw new Error(`no region "${name}" (${markers(name).begin})`);
  const start = text.indexOf(markers(name).begin);
  const from = text.indexOf("\n", start) + 1;
  return text.slice(0, from) + body + text.slice(from + current.length);
}

function markers(name: string) {
  return { begin: `// BEGIN GENERATED: ${name}`, end: `// END GENERATED: ${name}` };
}

const quote = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;

function groovyMap(entries: Record<string, string | undefined>): string {
  const parts = Object.entries(entries)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}: ${value}`);
  return parts.length === 0 ? "[:]" : `[${parts.join(", ")}]`;
}

function binding(c: CredentialBinding): string {
  return c.type === "usernamePassword"
    ? groovyMap({
        type: quote(c.type),
        id: quote(c.id),
        usernameVariable: quote(c.usernameVariable),
        passwordVariable: quote(c.passwordVariable),
      })
    : groovyMap({ type: quote(c.type), id: quote(c.id), variable: quote(c.variable) });
}

function stageEntry(stage: StageDefinition): string {
  return groovyMap({
    id: quote(stage.id),
    title: quote(stage.title),
    command: quote(stage.command),
    credentials: `[${(stage.credentials ?? []).map(binding).join(", ")}]`,
    input: stage.input
      ? groovyMap({
          message: quote(stage.input.message),
          ok: quote(stage.input.ok),
          submitter: quote(stage.input.submitter),
          timeoutHours: String(stage.input.timeoutHours),
        })
      : undefined,
    junit: stage.junit && quote(stage.junit),
    checkstyle: stage.checkstyle && quote(stage.checkstyle),
  });
}

/** `pipelineStage`'s table: every stage of both pipelines, by pipeline, in order. */
export function renderStageTable(): string {
  const pipelines = (Object.keys(stageDefinitions) as PipelineName[]).map(
    (name) =>
      `  ${name}: [\n${stageDefinitions[name].map((s) => `    ${stageEntry(s)},\n`).join("")}  ],\n`,
  );
  return `@groovy.transform.Field\nfinal Map STAGES = [\n${pipelines.join("")}]\n`;
}

/** `standardPipeline`'s stage ids, for checking its `skip` parameter. */
export function renderStageIds(): string {
  const ids = stageDefinitions[STANDARD_PIPELINE].map((s) => quote(s.id)).join(", ");
  return `@groovy.transform.Field\nfinal List STAGE_IDS = [${ids}]\n`;
}

const renderStrategies = () =>
  `@groovy.transform.Field\nfinal List STRATEGIES = [${DEPLOY_STRATEGIES.map(quote).join(", ")}]\n`;

/** `pipelineStage`'s deploy stages (both pipelines), the only ones that take its `strategy`. */
export function renderDeployStages(): string {
  const ids = new Set(
    Object.values(stageDefinitions).flatMap((stages) =>
      stages.filter((s) => deployEnvironment(s) !== undefined).map((s) => s.id),
    ),
  );
  return (
    `@groovy.transform.Field\nfinal List DEPLOY_STAGE_IDS = [${[...ids].map(quote).join(", ")}]\n` +
    renderStrategies()
  );
}

/** The environments `standardPipeline` deploys to: the keys its `strategy` map may have. */
export function renderDeployEnvironments(): string {
  const environments = stageDefinitions[STANDARD_PIPELINE].map(deployEnvironment).filter(
    (env) => env !== undefined,
  );
  return (
    `@groovy.transform.Field\nfinal List DEPLOY_ENVIRONMENTS = [${environments.map(quote).join(", ")}]\n` +
    renderStrategies()
  );
}

function condition(c: StageCondition): string {
  if ("branch" in c) return `branch ${quote(c.branch)}`;
  if ("changeRequest" in c) return c.changeRequest ? "changeRequest()" : "not { changeRequest() }";
  return `expression { ${c.expression} }`;
}

/**
 * `standardPipeline`'s declarative stages: one per stage of the standard
 * pipeline, in order, with its `when` plus the caller's `skip`, each running
 * `pipelineStage` (the command, the credentials, the reports); a deploy stage
 * with the caller's `strategy` for its environment (none when it names none).
 */
export function renderStandardStages(): string {
  const indent = (n: number, line: string) => `${" ".repeat(n)}${line}\n`;
  let out = indent(4, "stages {");
  for (const stage of stageDefinitions[STANDARD_PIPELINE]) {
    out += indent(6, `stage(${quote(stage.title)}) {`);
    out += indent(8, "when {");
    for (const c of stage.when ?? []) out += indent(10, condition(c));
    out += indent(10, `expression { !(${quote(stage.id)} in skip) }`);
    out += indent(8, "}");
    out += indent(8, "steps {");
    const env = deployEnvironment(stage);
    const strategy = env === undefined ? "" : `, strategy: strategies[${quote(env)}]`;
    out += indent(
      10,
      `pipelineStage(${quote(stage.id)}, pipeline: ${quote(STANDARD_PIPELINE)}, credentials: credentials${strategy})`,
    );
    out += indent(8, "}");
    out += indent(8, "post {");
    out += indent(10, "failure {");
    out += indent(12, "script {");
    out += indent(14, "env.FAILED_STAGE = env.STAGE_NAME");
    out += indent(12, "}");
    out += indent(10, "}");
    out += indent(8, "}");
    out += indent(6, "}");
  }
  out += indent(4, "}");
  return out;
}
