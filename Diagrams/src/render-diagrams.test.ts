import { expect } from "chai";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { DIAGRAMS, DIAGRAMS_DIR, renderPng, renderSvg } from "./render-diagrams.js";

const ROOT = path.resolve(DIAGRAMS_DIR, "..");
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("Diagrams/ (npm run diagrams)", function () {
  this.timeout(60_000);

  for (const diagram of DIAGRAMS) {
    it(`${diagram.name}.svg is what ${diagram.source} renders to`, async () => {
      const committed = await readFile(path.join(DIAGRAMS_DIR, `${diagram.name}.svg`), "utf8");
      const rendered = await renderSvg(await diagram.dot());
      expect(rendered === committed, `Diagrams/${diagram.name}.svg is stale: npm run diagrams`).to
        .be.true;
    });

    it(`${diagram.name}.png is what its committed SVG renders to, the same bytes every time`, async () => {
      const svg = await readFile(path.join(DIAGRAMS_DIR, `${diagram.name}.svg`), "utf8");
      const committed = await readFile(path.join(DIAGRAMS_DIR, `${diagram.name}.png`));
      const [first, second] = [await renderPng(svg), await renderPng(svg)];
      expect(sha256(first)).to.equal(sha256(second));
      expect(sha256(first), `Diagrams/${diagram.name}.png is stale: npm run diagrams`).to.equal(
        sha256(committed),
      );
    });
  }

  it("the Kubernetes diagram draws every kind of object in k8s/", async () => {
    // The ServiceAccount only switches off the token mount; it has no part in the picture.
    const notDrawn = new Set(["ServiceAccount"]);
    const kinds = new Set<string>();
    for (const file of await readdir(path.join(ROOT, "k8s"))) {
      if (!file.endsWith(".yaml")) continue;
      for (const doc of parseAllDocuments(await readFile(path.join(ROOT, "k8s", file), "utf8"))) {
        const kind = (doc.toJS() as { kind?: string } | null)?.kind;
        if (kind && !notDrawn.has(kind)) kinds.add(kind);
      }
    }
    expect(kinds.size).to.be.greaterThan(5);
    const dot = await readFile(path.join(DIAGRAMS_DIR, "src", "kubernetes.dot"), "utf8");
    const missing = [...kinds].filter((kind) => !dot.includes(kind));
    expect(missing, "kinds in k8s/ that Diagrams/src/kubernetes.dot leaves out").to.deep.equal([]);
  });
});
