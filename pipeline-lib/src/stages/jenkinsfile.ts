/** A stage as a declarative Jenkinsfile states it. */
export interface JenkinsStage {
  title: string;
  /** The `sh` steps of the stage, in order. */
  commands: string[];
  /** The reports of its `junit` steps. */
  junit: string[];
}

/**
 * Reads the stages of a declarative Jenkinsfile: enough of Groovy to check the
 * file against the stage definitions, not a Groovy parser. Top-level stages
 * only, with single-quoted `sh` and `junit` arguments (`junit 'x.xml'` or
 * `junit allowEmptyResults: true, testResults: 'x.xml'`), which is the style our
 * Jenkinsfiles keep to.
 */
export function readJenkinsStages(text: string): JenkinsStage[] {
  const stages: JenkinsStage[] = [];
  const header = /stage\('([^']+)'\)\s*\{/g;
  let match: RegExpExecArray | null;
  while ((match = header.exec(text)) !== null) {
    const body = blockAt(text, header.lastIndex - 1);
    stages.push({
      title: match[1]!,
      commands: [...body.matchAll(/\bsh\s+'([^']*)'/g)].map((m) => m[1]!),
      junit: [
        ...body.matchAll(/\bjunit\s+(?:allowEmptyResults:\s*true,\s*testResults:\s*)?'([^']*)'/g),
      ].map((m) => m[1]!),
    });
    header.lastIndex += body.length;
  }
  return stages;
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
