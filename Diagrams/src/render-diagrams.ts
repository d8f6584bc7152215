// `npm run diagrams`: renders every diagram from its source into Diagrams/ as
// SVG and PNG. Graphviz compiled to WebAssembly (@viz-js/viz) lays out the DOT
// and writes the SVG; resvg (@resvg/resvg-js) rasterises that SVG with the
// DejaVu fonts given here, never the machine's, so the PNG is the same bytes
// on every run. The test beside this file regenerates both and compares.
import { Resvg } from "@resvg/resvg-js";
import { instance } from "@viz-js/viz";
import { access, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderPipelineDot } from "../../pipeline-lib/src/stages/render-diagram.js";

export const DIAGRAMS_DIR = path.resolve(import.meta.dirname, "..");

export interface Diagram {
  name: string;
  /** Where the DOT comes from, for people. */
  source: string;
  dot(): Promise<string>;
}

const dotFile = (name: string): Diagram => ({
  name,
  source: `Diagrams/src/${name}.dot`,
  dot: () => readFile(path.join(DIAGRAMS_DIR, "src", `${name}.dot`), "utf8"),
});

export const DIAGRAMS: readonly Diagram[] = [
  dotFile("application"),
  dotFile("kubernetes"),
  {
    name: "pipelines",
    source: "pipeline-lib/src/stages/stage-definitions.ts",
    dot: () => Promise.resolve(renderPipelineDot()),
  },
];

/** Debian's fonts-dejavu-core: the fonts the DOT names, and nothing else. */
const FONT_DIR = "/usr/share/fonts/truetype/dejavu";
export const FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"].map(
  (file) => path.join(FONT_DIR, file),
);

/** PNG pixels per SVG point: sharp enough to read on a high-density screen. */
const PNG_ZOOM = 1.5;

export async function renderSvg(dot: string): Promise<string> {
  const viz = await instance();
  const result = viz.render(dot, { format: "svg" });
  if (result.status !== "success") {
    throw new Error(
      `Graphviz could not render the diagram: ${result.errors.map((e) => e.message).join("; ")}`,
    );
  }
  // Graphviz warnings (an unknown attribute, a label that does not fit) are errors here.
  const warnings = result.errors.filter((e) => e.level === "warning");
  if (warnings.length > 0) {
    throw new Error(`Graphviz warned: ${warnings.map((e) => e.message.trim()).join("; ")}`);
  }
  return withFallbackFonts(result.output);
}

/**
 * Graphviz sizes text with its own metrics for the fonts it knows: DejaVu Sans,
 * and Courier for the commands (DejaVu Sans Mono has the same advance, 0.6 em).
 * The SVG then names the DejaVu fonts first, and fonts of the same widths after
 * them for viewers that lack DejaVu.
 */
function withFallbackFonts(svg: string): string {
  return svg
    .replaceAll('font-family="DejaVu Sans"', 'font-family="DejaVu Sans,Verdana,sans-serif"')
    .replaceAll(
      'font-family="Courier,monospace"',
      'font-family="DejaVu Sans Mono,Courier New,monospace"',
    );
}

export async function renderPng(svg: string): Promise<Buffer> {
  for (const file of FONT_FILES) {
    await access(file).catch((error: unknown) => {
      throw new Error(`${file} is missing: apt-get install -y fonts-dejavu-core`, {
        cause: error,
      });
    });
  }
  const resvg = new Resvg(svg, {
    font: {
      fontFiles: FONT_FILES,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
      monospaceFamily: "DejaVu Sans Mono",
    },
    fitTo: { mode: "zoom", value: PNG_ZOOM },
    background: "white",
  });
  return resvg.render().asPng();
}

export interface RenderedDiagram {
  name: string;
  svg: string;
  png: Buffer;
}

export async function renderDiagram(diagram: Diagram): Promise<RenderedDiagram> {
  const svg = await renderSvg(await diagram.dot());
  return { name: diagram.name, svg, png: await renderPng(svg) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const diagram of DIAGRAMS) {
    const { svg, png } = await renderDiagram(diagram);
    await writeFile(path.join(DIAGRAMS_DIR, `${diagram.name}.svg`), svg);
    await writeFile(path.join(DIAGRAMS_DIR, `${diagram.name}.png`), png);
    console.log(`wrote Diagrams/${diagram.name}.svg and .png from ${diagram.source}`);
  }
}
