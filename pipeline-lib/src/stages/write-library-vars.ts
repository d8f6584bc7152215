// `npx tsx pipeline-lib/src/stages/write-library-vars.ts`: regenerates the
// generated regions of pipeline-lib/vars/*.groovy from the stage definitions.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { generatedRegions, replaceRegion } from "./library-vars.js";

// src/stages and dist/stages both sit two folders below pipeline-lib/.
export const VARS_DIR = fileURLToPath(new URL("../../vars/", import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const file of new Set(generatedRegions.map((r) => r.file))) {
    const where = `${VARS_DIR}${file}`;
    let text = await readFile(where, "utf8");
    for (const region of generatedRegions.filter((r) => r.file === file)) {
      text = replaceRegion(text, region.name, region.render());
    }
    await writeFile(where, text);
    console.log(`wrote ${where}`);
  }
}
