import { expect } from "chai";
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  deployEnvironment,
  generatedRegions,
  regionOf,
  renderStandardStages,
  replaceRegion,
} from "./library-vars.js";
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

  it("the deploy stages, which take a strategy, are each one `pipeline deploy --env <env>` call that --strategy can follow", () => {
    const deploys = Object.entries(stageDefinitions).flatMap(([pipeline, stages]) =>
      stages.flatMap((s) => {
        const env = deployEnvironment(s);
        return env === undefined ? [] : [[pipeline, s.id, env]];
      }),
    );
    expect(deploys).to.deep.equal([
      ["dev", "deploy-test", "test"],
      ["prod", "deploy-test", "test"],
      ["prod", "deploy-production", "production"],
    ]);
    const stage = (command: string) => ({ id: "x", title: "X", command });
    expect(
      deployEnvironment(stage("npx --no-install pipeline deploy --env test && echo done")),
    ).to.equal(undefined);
    expect(deployEnvironment(stage("npx --no-install pipeline verify --env test"))).to.equal(
      undefined,
    );
  });

  it("replaceRegion swaps only the body between the markers", () => {
    const text = "a\n  // BEGIN GENERATED: x\nold\n  // END GENERATED: x\nb\n";
    expect(replaceRegion(text, "x", "new\n")).to.equal(
      "a\n  // BEGIN GENERATED: x\nnew\n  // END GENERATED: x\nb\n",
    );
    expect(regionOf("no markers", "x")).to.equal(undefined);
  });
});
