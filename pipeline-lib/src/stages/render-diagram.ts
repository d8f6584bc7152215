import { stageDefinitions, type PipelineName } from "./stage-definitions.js";

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
