import type { CredentialBinding, StageCondition } from "./stage-definitions.js";

/** An approval as a Jenkinsfile states it: an `input` step or a stage's `input` directive. */
export interface JenkinsInput {
  message: string;
  ok: string;
  /** Present when the file names who may answer. */
  submitter?: string;
}

/** A stage as a declarative Jenkinsfile states it. */
export interface JenkinsStage {
  title: string;
  /** The parent stages around it, outermost first. */
  parents: string[];
  /** Its own `agent`: `any`, `none`, a `label`'s value, or undefined (its parent's, or the pipeline's). */
  agent: string | undefined;
  /** The `sh` steps of the stage, in order. */
  commands: string[];
  /** The reports of its `junit` steps. */
  junit: string[];
  /** The checkstyle reports of its `recordIssues` steps. */
  checkstyle: string[];
  /** The conditions of its `when` block, in order. */
  when: StageCondition[];
  /** The bindings of its `withCredentials` steps, in order. */
  credentials: CredentialBinding[];
  /** Its `input` directive and `input` steps. */
  input: JenkinsInput[];
  /** The ordinals of its `milestone` steps, in order. */
  milestones: number[];
  /** Its own `options { timeout(…) }`, if any. */
  timeout: { time: number; unit: string } | undefined;
  /** The names it `stash`es and `unstash`es (steps and post). */
  stash: string[];
  unstash: string[];
  /** Its nested stages, when it is a parent (which runs no steps of its own). */
  stages?: JenkinsStage[];
}

/**
 * Reads the stages of a declarative Jenkinsfile: enough of Groovy to check the
 * file against the stage definitions, not a Groovy parser (test/jenkins/ runs
 * the files). The stages that run steps, in order, each with the parent stages
 * around it (nested `stages { … }`), in the style our Jenkinsfiles keep to:
 * single-quoted arguments, `sh '…'` or `sh '''…'''`, `junit 'x.xml'` or
 * `junit allowEmptyResults: true, testResults: 'x.xml'`, `when` conditions
 * `branch '…'`, `changeRequest()`, `not { changeRequest() }` and
 * `expression { … }`, `input message: '…', ok: '…'[, submitter: '…']` or an
 * `input { message '…' … }` directive, `milestone(ordinal: n, …)`, `agent any`,
 * `agent none` or `agent { label '…' }`, `options { timeout(time: n, unit: '…') }`,
 * `stash name: '…'` and `unstash '…'`.
 */
export function readJenkinsStages(text: string): JenkinsStage[] {
  const leaves = (stages: JenkinsStage[]): JenkinsStage[] =>
    stages.flatMap((s) => (s.stages ? leaves(s.stages) : [s]));
  return leaves(readJenkinsStageTree(text));
}

/** The top-level stages of a declarative Jenkinsfile, parents with their nested stages. */
export function readJenkinsStageTree(text: string): JenkinsStage[] {
  return readStages(withoutCommentLines(text), []);
}

/** The pipeline's own `agent` (before its stages): `any`, `none`, a label, or undefined. */
export function readPipelineAgent(text: string): string | undefined {
  const code = withoutCommentLines(text);
  const stages = /\bstages\s*\{/.exec(code);
  return readAgent(stages ? code.slice(0, stages.index) : code);
}

/** Whole-line `//` comments blanked: prose about `agent none` or `{ … }` is not code. */
function withoutCommentLines(text: string): string {
  return text.replace(/^\s*\/\/.*$/gm, "");
}

/** The files of every `archiveArtifacts artifacts: '…'` step. */
export function readArchivedArtifacts(text: string): string[] {
  return [...text.matchAll(/\barchiveArtifacts\s+artifacts:\s*'([^']*)'/g)].map((m) => m[1]!);
}

function readStages(text: string, parents: string[]): JenkinsStage[] {
  const stages: JenkinsStage[] = [];
  const header = /stage\('([^']+)'\)\s*\{/g;
  let match: RegExpExecArray | null;
  while ((match = header.exec(text)) !== null) {
    const title = match[1]!;
    const body = blockAt(text, header.lastIndex - 1);
    const nestedAt = /\bstages\s*\{/.exec(body);
    const nested = nestedAt ? blockAt(body, nestedAt.index + nestedAt[0].length - 1) : undefined;
    // The stage's own directives and steps: its body without its nested stages.
    const own =
      nestedAt && nested
        ? body.slice(0, nestedAt.index) +
          body.slice(nestedAt.index + nestedAt[0].length - 1 + nested.length)
        : body;
    const when = /\bwhen\s*\{/.exec(own);
    const options = /\boptions\s*\{/.exec(own);
    const timeout = options
      ? /\btimeout\(time:\s*(\d+),\s*unit:\s*'(\w+)'\)/.exec(
          blockAt(own, options.index + options[0].length - 1),
        )
      : null;
    const directive = /\binput\s*\{/.exec(own);
    stages.push({
      title,
      parents,
      agent: readAgent(own),
      commands: [...own.matchAll(/\bsh\s+(?:'''([\s\S]*?)'''|'([^']*)')/g)].map(
        (m) => m[1] ?? m[2]!,
      ),
      junit: [
        ...own.matchAll(/\bjunit\s+(?:allowEmptyResults:\s*true,\s*testResults:\s*)?'([^']*)'/g),
      ].map((m) => m[1]!),
      checkstyle: [...own.matchAll(/\bcheckStyle\(pattern:\s*'([^']*)'\)/g)].map((m) => m[1]!),
      when: when ? readConditions(blockAt(own, when.index + when[0].length - 1)) : [],
      credentials: [...own.matchAll(/\b(usernamePassword|string|file)\(([^)]*)\)/g)].map((m) =>
        readBinding(m[1]!, m[2]!),
      ),
      input: [
        ...(directive
          ? [readInputDirective(blockAt(own, directive.index + directive[0].length - 1))]
          : []),
        ...[
          ...own.matchAll(
            /\binput\s+message:\s*'([^']*)',\s*ok:\s*'([^']*)'(?:,\s*submitter:\s*'([^']*)')?/g,
          ),
        ].map((m) => input(m[1]!, m[2]!, m[3])),
      ],
      milestones: [...own.matchAll(/\bmilestone(?:\(\s*(?:ordinal:\s*)?|\s+)(\d+)/g)].map((m) =>
        Number(m[1]),
      ),
      timeout: timeout ? { time: Number(timeout[1]), unit: timeout[2]! } : undefined,
      stash: [...own.matchAll(/\bstash\s+name:\s*'([^']*)'/g)].map((m) => m[1]!),
      unstash: [...own.matchAll(/\bunstash\s+'([^']*)'/g)].map((m) => m[1]!),
      ...(nested && { stages: readStages(nested, [...parents, title]) }),
    });
    header.lastIndex += body.length;
  }
  return stages;
}

function readAgent(text: string): string | undefined {
  const agent = /\bagent\s+(any|none)\b|\bagent\s*\{\s*label\s+'([^']*)'/.exec(text);
  return agent ? (agent[1] ?? agent[2]) : undefined;
}

function input(message: string, ok: string, submitter: string | undefined): JenkinsInput {
  return submitter === undefined ? { message, ok } : { message, ok, submitter };
}

function readInputDirective(block: string): JenkinsInput {
  const field = (name: string) => new RegExp(`\\b${name}\\s+'([^']*)'`).exec(block)?.[1];
  return input(field("message") ?? "", field("ok") ?? "Proceed", field("submitter"));
}

function readConditions(block: string): StageCondition[] {
  const condition =
    /\bbranch\s+'([^']*)'|\b(not\s*\{\s*)?changeRequest\(\)(?:\s*\})?|\bexpression\s*\{\s*([^}]*?)\s*\}/g;
  return [...block.matchAll(condition)].map((m): StageCondition => {
    if (m[1] !== undefined) return { branch: m[1] };
    if (m[3] !== undefined) return { expression: m[3] };
    return { changeRequest: m[2] === undefined };
  });
}

function readBinding(type: string, args: string): CredentialBinding {
  const named = Object.fromEntries(
    [...args.matchAll(/(\w+):\s*'([^']*)'/g)].map((m) => [m[1]!, m[2]!]),
  );
  const id = named.credentialsId ?? "";
  if (type === "usernamePassword") {
    return {
      type,
      id,
      usernameVariable: named.usernameVariable ?? "",
      passwordVariable: named.passwordVariable ?? "",
    };
  }
  return { type: type as "string" | "file", id, variable: named.variable ?? "" };
}

/** The text of the `{ … }` block that opens at `open`. */
function blockAt(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    if (text[i] === "}" && --depth === 0) return text.slice(open, i + 1);
  }
  throw new Error(`unbalanced braces after offset ${open}`);
}
