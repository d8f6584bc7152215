// `npm run diagrams`: regenerates Diagrams/pipelines.md from the stage definitions.
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { renderPipelineDiagram } from "./render-diagram.js";

// src/stages and dist/stages both sit three folders below the repository root.
export const DIAGRAM_FILE = fileURLToPath(
  new URL("../../../Diagrams/pipelines.md", import.meta.url),
);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(DIAGRAM_FILE, renderPipelineDiagram());
  console.log(`wrote ${DIAGRAM_FILE}`);
}
