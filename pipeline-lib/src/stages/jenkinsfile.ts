import type { CredentialBinding, StageCondition } from "./stage-definitions.js";

/** A stage as a declarative Jenkinsfile states it. */
export interface JenkinsStage {
  title: string;
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
  /** Its `input` steps. */
  input: { message: string; ok: string }[];
}

/**
 * Reads the stages of a declarative Jenkinsfile: enough of Groovy to check the
 * file against the stage definitions, not a Groovy parser (test/jenkins/ runs
 * the files). Top-level stages only, in the style our Jenkinsfiles keep to:
 * single-quoted arguments, `sh '…'` or `sh '''…'''`, `junit 'x.xml'` or
 * `junit allowEmptyResults: true, testResults: 'x.xml'`, `when` conditions
 * `branch '…'`, `changeRequest()`, `not { changeRequest() }` and
 * `expression { … }`, and `input message: '…', ok: '…'`.
 */
export function readJenkinsStages(text: string): JenkinsStage[] {
  const stages: JenkinsStage[] = [];
  const header = /stage\('([^']+)'\)\s*\{/g;
  let match: RegExpExecArray | null;
  while ((match = header.exec(text)) !== null) {
    const body = blockAt(text, header.lastIndex - 1);
    const when = /\bwhen\s*\{/.exec(body);
    stages.push({
      title: match[1]!,
      commands: [...body.matchAll(/\bsh\s+(?:'''([\s\S]*?)'''|'([^']*)')/g)].map(
        (m) => m[1] ?? m[2]!,
      ),
      junit: [
        ...body.matchAll(/\bjunit\s+(?:allowEmptyResults:\s*true,\s*testResults:\s*)?'([^']*)'/g),
      ].map((m) => m[1]!),
      checkstyle: [...body.matchAll(/\bcheckStyle\(pattern:\s*'([^']*)'\)/g)].map((m) => m[1]!),
      when: when ? readConditions(blockAt(body, when.index + when[0].length - 1)) : [],
      credentials: [...body.matchAll(/\b(usernamePassword|string|file)\(([^)]*)\)/g)].map((m) =>
        readBinding(m[1]!, m[2]!),
      ),
      input: [...body.matchAll(/\binput\s+message:\s*'([^']*)',\s*ok:\s*'([^']*)'/g)].map((m) => ({
        message: m[1]!,
        ok: m[2]!,
      })),
    });
    header.lastIndex += body.length;
  }
  return stages;
}

/** The files of every `archiveArtifacts artifacts: '…'` step. */
export function readArchivedArtifacts(text: string): string[] {
  return [...text.matchAll(/\barchiveArtifacts\s+artifacts:\s*'([^']*)'/g)].map((m) => m[1]!);
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
