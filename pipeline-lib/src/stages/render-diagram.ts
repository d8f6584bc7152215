import {
  stageDefinitions,
  type PipelineName,
  type StageCondition,
  type StageDefinition,
} from "./stage-definitions.js";

const TITLES: Record<PipelineName, string> = {
  dev: "Dev pipeline (develop and pull requests): Jenkinsfile.dev",
  prod: "Prod pipeline (master): Jenkinsfile.prod",
};

/** A Mermaid flowchart of both pipelines, generated from the stage definitions. */
export function renderPipelineDiagram(): string {
  const sections = (Object.keys(stageDefinitions) as PipelineName[]).map((name) => {
    const stages = stageDefinitions[name];
    const nodes = stages.map(
      (s) =>
        `  ${name}_${s.id.replace(/-/g, "_")}["${s.title}<br/><code>${s.command.replace(/"/g, "#quot;")}</code>"]`,
    );
    const edges = stages
      .slice(1)
      .map(
        (s, i) =>
          `  ${name}_${stages[i]!.id.replace(/-/g, "_")} --> ${name}_${s.id.replace(/-/g, "_")}`,
      );
    return [
      `## ${TITLES[name]}`,
      "",
      "```mermaid",
      "flowchart LR",
      ...nodes,
      ...edges,
      "```",
      "",
    ].join("\n");
  });
  return [
    "# Pipelines",
    "",
    "Generated from `pipeline-lib/src/stages/stage-definitions.ts` by `npm run diagrams`; do not edit by hand.",
    "",
    ...sections,
  ].join("\n");
}

const TRIGGERS: Record<PipelineName, string[]> = {
  dev: ["push to develop", "pull request"],
  prod: ["merge into master"],
};
const CLUSTERS: Record<PipelineName, { label: string; color: string; fill: string }> = {
  dev: { label: "Jenkinsfile.dev: develop and pull requests", color: "#2e7d32", fill: "#f6fbf6" },
  prod: { label: "Jenkinsfile.prod: master", color: "#1f4e8c", fill: "#f5f8fc" },
};
/** Where a deploy or verify that fails takes the environment. */
const ROLLBACK_TO: Record<PipelineName, string> = {
  dev: "test",
  prod: "production",
};

/**
 * Both pipelines as a Graphviz graph, generated from the stage definitions:
 * what triggers each, its stages with their commands, and the paths between
 * them. A deploy or verify that fails rolls back; the digest that dev verified
 * is the one prod resolves and promotes. `Diagrams/src/render-diagrams.ts`
 * renders it to SVG and PNG.
 */
export function renderPipelineDot(): string {
  const lines = [
    "// Generated from pipeline-lib/src/stages/stage-definitions.ts by `npm run diagrams`.",
    "digraph pipelines {",
    '  graph [rankdir=TB, fontname="DejaVu Sans", fontsize=16, labelloc=t, pad=0.3, nodesep=0.5,',
    "         ranksep=0.32, bgcolor=white, newrank=true,",
    '         label="The pipelines: one CLI call per stage (stage-definitions.ts)\\n\\n"];',
    '  node [fontname="DejaVu Sans", fontsize=11, shape=box, style="rounded,filled",',
    '        fillcolor="#eef4fb", color="#4a6fa5", penwidth=1.2, margin="0.15,0.06"];',
    '  edge [fontname="DejaVu Sans", fontsize=10, color="#4d4d4d", fontcolor="#333333"];',
  ];
  const pipelines = Object.keys(stageDefinitions) as PipelineName[];
  const node = (name: PipelineName, id: string) => `${name}_${id.replace(/[^A-Za-z0-9]/g, "_")}`;
  const find = (name: PipelineName, command: RegExp) =>
    stageDefinitions[name].filter((s) => command.test(s.command));

  for (const name of pipelines) {
    const stages = stageDefinitions[name];
    const cluster = CLUSTERS[name];
    lines.push(
      "",
      `  subgraph cluster_${name} {`,
      `    label=${quote(cluster.label)}; fontsize=13; style=rounded; color=${quote(cluster.color)};`,
      `    bgcolor=${quote(cluster.fill)}; margin=14;`,
    );
    for (const stage of stages) {
      lines.push(
        `    ${node(name, stage.id)} [label=<${stageLabel(stage, commonConditions(stages))}>];`,
      );
    }
    const deploys = find(name, /\bpipeline (deploy|verify)\b/);
    if (deploys.length > 0) {
      lines.push(
        `    ${name}_rollback [label=<<b>Roll back</b><br/>` +
          `<font point-size="10">to the previous revision in ${ROLLBACK_TO[name]},<br/>` +
          `wait until it is healthy, fail the stage</font>>, fillcolor="#fbeeee", color="#b03a2e"];`,
      );
    }
    for (const [i, stage] of stages.slice(1).entries()) {
      lines.push(`    ${node(name, stages[i]!.id)} -> ${node(name, stage.id)};`);
    }
    for (const stage of deploys) {
      lines.push(
        `    ${node(name, stage.id)} -> ${name}_rollback [label="fails", style=dashed, color="#b03a2e", fontcolor="#b03a2e"];`,
      );
    }
    lines.push("  }");
    for (const [i, trigger] of TRIGGERS[name].entries()) {
      lines.push(
        `  ${name}_trigger_${i} [label=${quote(trigger)}, shape=ellipse, fillcolor="#fff4dd", color="#c08a2b"];`,
        `  ${name}_trigger_${i} -> ${node(name, stages[0]!.id)};`,
      );
    }
  }
  // The triggers on one row, dev's first: the pipelines then stand left to right.
  const triggers = pipelines.flatMap((name) =>
    TRIGGERS[name].map((_, i) => `${name}_trigger_${i}`),
  );
  lines.push(
    "",
    `  { rank=same; ${triggers.join("; ")}; }`,
    ...triggers.slice(1).map((t, i) => `  ${triggers[i]} -> ${t} [style=invis];`),
  );

  // Promotion: the prod pipeline finds the image dev verified for the same inputs
  // (its content tag) and promotes that digest; it never rebuilds what was verified.
  const verified = [...find("dev", /\bpipeline verify\b/), ...find("dev", /\bpipeline push\b/)][0];
  const resolve = find("prod", /\bpipeline build --reuse\b/)[0];
  const promote = find("prod", /\bpipeline promote\b/)[0];
  if (verified && resolve) {
    lines.push(
      "",
      `  ${node("dev", verified.id)} -> ${node("prod", resolve.id)} [label="the verified digest\\n(same inputs: same tree-... tag)", style=bold, color="#6a3d9a", fontcolor="#6a3d9a", constraint=false];`,
    );
  }
  if (resolve && promote) {
    lines.push(
      `  ${node("prod", resolve.id)} -> ${node("prod", promote.id)} [label="that digest,\\nnot rebuilt", style=dashed, color="#6a3d9a", fontcolor="#6a3d9a", constraint=false];`,
    );
  }
  lines.push("}", "");
  return lines.join("\n");
}

/**
 * A stage as an HTML-like label: its title, then its command in monospace,
 * wrapped, then when it runs (unless every stage of its pipeline does) and the
 * approval it waits for.
 */
function stageLabel(stage: StageDefinition, common: Set<string>): string {
  const wrapped = wrap(stage.command, 46).map(html).join("<br/>");
  const notes = (stage.when ?? [])
    .map(describeCondition)
    .filter((text) => !common.has(text))
    .map((text) => `only ${text}`);
  if (stage.input) notes.push(`then waits for a person: ${stage.input.message}`);
  const noted = notes.map((n) => `<br/><font point-size="10" color="#8a5a00">${html(n)}</font>`);
  return (
    `<b>${html(stage.title)}</b><br/><font face="Courier" point-size="9">${wrapped}</font>` +
    noted.join("")
  );
}

/** The conditions every stage of a pipeline has: the pipeline's own, not worth repeating. */
function commonConditions(stages: readonly StageDefinition[]): Set<string> {
  const [first, ...rest] = stages.map((s) => new Set((s.when ?? []).map(describeCondition)));
  return new Set([...(first ?? [])].filter((text) => rest.every((set) => set.has(text))));
}

function describeCondition(condition: StageCondition): string {
  if ("branch" in condition) return `on ${condition.branch}`;
  if ("changeRequest" in condition) {
    return condition.changeRequest ? "for pull requests" : "not for pull requests";
  }
  return `if ${condition.expression}`;
}

/** Breaks a command after `&&` and then between words, into lines of at most `width`. */
function wrap(command: string, width: number): string[] {
  const lines: string[] = [];
  for (const part of command.split(/(?<=&&) /)) {
    let line = "";
    for (const word of part.split(" ")) {
      // `&&` stays at the end of its line, never alone on the next.
      if (line && word !== "&&" && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    lines.push(line);
  }
  return lines;
}

function html(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function quote(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
