import { createHash } from "node:crypto";
import type { BuildInfo } from "../config/load-config.js";
import type { VisitCounts } from "../store/visit-store.js";
import { escapeHtml } from "./escape-html.js";

export interface HomePageModel {
  counts: VisitCounts;
  build: BuildInfo;
  /** Which replica answered, so a reload shows the load balancer at work. */
  instance: string;
  embeddedStore: boolean;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f5f7fb;--card:#fff;--ink:#1c2333;--muted:#5f6b85;--accent:#4f46e5}
@media (prefers-color-scheme:dark){:root{--bg:#0f1422;--card:#182036;--ink:#e8ecf6;--muted:#9aa6c2;--accent:#8b84ff}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:var(--bg);color:var(--ink);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{background:var(--card);padding:2.5rem 3rem;border-radius:1.25rem;box-shadow:0 10px 40px rgb(0 0 0/.12);
text-align:center;max-width:34rem;width:calc(100% - 2rem)}
h1{margin:0 0 1.5rem;font-size:1.4rem;font-weight:600}
.stats{display:grid;grid-template-columns:1fr 1fr;gap:1rem;margin:0 0 1.5rem}
.stat{display:flex;flex-direction:column-reverse;padding:1rem;border-radius:.9rem;background:color-mix(in srgb,var(--accent) 10%,transparent)}
.stat dd{margin:0;font-size:2.4rem;font-weight:700;color:var(--accent);font-variant-numeric:tabular-nums}
.stat dt{color:var(--muted);font-size:.9rem}
.note{margin:0 0 1rem;padding:.5rem .75rem;border-radius:.5rem;background:#fef3c7;color:#78350f;font-size:.85rem}
footer{color:var(--muted);font-size:.8rem}
a{color:var(--accent)}
`.trim();

/** The Content-Security-Policy source that allows exactly this page's inline stylesheet. */
export const HOME_PAGE_STYLE_HASH = `'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`;

const numbers = new Intl.NumberFormat("en-US");

export function renderHomePage(model: HomePageModel): string {
  return homePageTemplate(model)(model.counts);
}

/**
 * The page with everything but the counts filled in, once: the returned
 * function only formats the two numbers and joins the parts.
 */
export function homePageTemplate(
  model: Omit<HomePageModel, "counts">,
): (counts: VisitCounts) => string {
  const { build } = model;
  const note = model.embeddedStore
    ? `<p class="note">Counting in memory: the numbers reset when this instance restarts.</p>`
    : "";
  const head = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Visit counter</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Thanks for stopping by</h1>
<dl class="stats">
<div class="stat"><dt>visits</dt><dd data-testid="visits">`;
  const middle = `</dd></div>
<div class="stat"><dt>unique visitors</dt><dd data-testid="unique-visitors">`;
  const tail = `</dd></div>
</dl>
${note}
<footer>served by ${escapeHtml(model.instance)} · version ${escapeHtml(build.version)} (${escapeHtml(build.commit.slice(0, 12))}) · <a href="/">count me again</a></footer>
</main>
</body>
</html>
`;
  return (counts) =>
    head +
    escapeHtml(numbers.format(counts.visits)) +
    middle +
    escapeHtml(numbers.format(counts.uniqueVisitors)) +
    tail;
}
