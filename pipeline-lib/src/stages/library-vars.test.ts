import { expect } from "chai";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { generatedRegions, regionOf, renderStandardStages, replaceRegion } from "./library-vars.js";
import { readJenkinsStages } from "./jenkinsfile.js";
import { stageDefinitions } from "./stage-definitions.js";
import { VARS_DIR } from "./write-library-vars.js";

describe("the shared library's steps (pipeline-lib/vars) and the stage definitions", () => {
  for (const region of generatedRegions) {
    it(`vars/${region.file}: the generated region "${region.name}" is the definitions' (npx tsx pipeline-lib/src/stages/write-library-vars.ts)`, async () => {
      const text = await readFile(path.join(VARS_DIR, region.file), "utf8");
      expect(regionOf(text, region.name)).to.equal(region.render());
    });
  }

  it("standardPipeline's stages are the dev pipeline's titles, in order, with their when and the caller's skip", () => {
    const stages = readJenkinsStages(`pipeline {\n${renderStandardStages()}}`);
    expect(stages.map((s) => s.title)).to.deep.equal(stageDefinitions.dev.map((s) => s.title));
    for (const [i, stage] of stages.entries()) {
      const definition = stageDefinitions.dev[i]!;
      expect(stage.when, stage.title).to.deep.equal([
        ...(definition.when ?? []),
        { expression: `!('${definition.id}' in skip)` },
      ]);
    }
  });

  it("replaceRegion swaps only the body between the markers", () => {
    const text = "a\n  // BEGIN GENERATED: x\nold\n  // END GENERATED: x\nb\n";
    expect(replaceRegion(text, "x", "new\n")).to.equal(
      "a\n  // BEGIN GENERATED: x\nnew\n  // END GENERATED: x\nb\n",
    );
    expect(regionOf("no markers", "x")).to.equal(undefined);
  });
});
