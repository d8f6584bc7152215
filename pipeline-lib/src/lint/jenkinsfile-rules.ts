import type { Finding } from "./finding.js";

/**
 * Directive blocks of a declarative pipeline. `when { … } steps { … }` on one
 * line is a Groovy command chain: it parses, but Jenkins' pipeline model then
 * rejects the stage (or silently drops a block), so each must start a line.
 */
const DIRECTIVES = [
  "agent",
  "environment",
  "input",
  "matrix",
  "options",
  "parallel",
  "post",
  "stages",
  "steps",
  "tools",
  "triggers",
  "when",
];
const CHAINED = new RegExp(`\\}\\s*(${DIRECTIVES.join("|")})\\s*\\{`);

/** Options of the program that take a value, so `pipeline -c x build` names `build`. */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(["-c", "--config"]);

/**
 * The Jenkinsfile rules that need no Groovy: directive blocks chained on one
 * line, and `pipeline <command>` calls that the CLI does not have. Pure.
 */
export function lintJenkinsfile(
  text: string,
  file: string,
  knownCommands: readonly string[],
): Finding[] {
  const findings: Finding[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = i + 1;
    const code = withoutStringsAndComments(raw);
    const chained = CHAINED.exec(code);
    if (chained) {
      findings.push({
        file,
        line,
        rule: "jenkinsfile/one-block-per-line",
        severity: "error",
        message:
          `"} ${chained[1]} {" on one line is a Groovy command chain that Jenkins rejects: ` +
          `start ${chained[1]} { on its own line`,
      });
    }
    for (const command of pipelineCommands(raw)) {
      if (!knownCommands.includes(command)) {
        findings.push({
          file,
          line,
          rule: "jenkinsfile/unknown-command",
          severity: "error",
          message: `pipeline ${command}: no such command (the CLI has ${knownCommands.join(", ")})`,
        });
      }
    }
  });
  return findings;
}

/**
 * The commands of `npx pipeline <command>` anywhere, and of a bare
 * `pipeline <command>` where a shell command starts inside an `sh` step.
 */
export function pipelineCommands(line: string): string[] {
  const found: string[] = [];
  const call = /(npx\s+)?\bpipeline((?:\s+[^\s'"`;&|)]+)+)/g;
  const inShellStep = /\bsh\s*\(?\s*(script:\s*)?['"]/.test(line);
  for (const match of line.matchAll(call)) {
    const before = line.slice(0, match.index).trimEnd();
    const commandStart = /(['"`;(|]|&&)$/.test(before);
    if (match[1] === undefined && !(inShellStep && commandStart)) continue;
    const words = match[2]!.trim().split(/\s+/);
    let i = 0;
    while (i < words.length && words[i]!.startsWith("-")) {
      i += GLOBAL_OPTIONS_WITH_VALUE.has(words[i]!) ? 2 : 1;
    }
    const command = words[i];
    if (command && /^[a-z][a-z0-9-]*$/.test(command)) found.push(command);
  }
  return found;
}

/** The line with string literals blanked and a trailing // comment cut. */
function withoutStringsAndComments(line: string): string {
  return line
    .replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, (s) => " ".repeat(s.length))
    .replace(/\/\/.*$/, "");
}
