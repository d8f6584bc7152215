import type { Finding } from "./finding.js";
import { sortFindings } from "./finding.js";

/** Findings grouped by file, one `file:line rule message` line each, then a count. */
export function formatText(findings: readonly Finding[]): string {
  if (findings.length === 0) return "no problems found";
  const lines: string[] = [];
  let current: string | undefined;
  for (const f of sortFindings(findings)) {
    if (f.file !== current) {
      if (current !== undefined) lines.push("");
      lines.push(f.file);
      current = f.file;
    }
    const where = `${f.file}:${f.line}${f.column ? `:${f.column}` : ""}`;
    lines.push(`  ${where} ${f.severity === "warning" ? "warning " : ""}${f.rule} ${f.message}`);
  }
  lines.push("", summarize(findings));
  return lines.join("\n");
}

export function summarize(findings: readonly Finding[]): string {
  const errors = findings.filter((f) => f.severity === "error").length;
  const warnings = findings.length - errors;
  const files = new Set(findings.map((f) => f.file)).size;
  return `${plural(errors, "error")} and ${plural(warnings, "warning")} in ${plural(files, "file")}`;
}

/**
 * Checkstyle XML, as Jenkins' Warnings NG plugin reads it
 * (`recordIssues(tools: [checkStyle(pattern: 'reports/lint.xml')])`).
 */
export function formatCheckstyle(findings: readonly Finding[]): string {
  const byFile = new Map<string, Finding[]>();
  for (const f of sortFindings(findings)) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', '<checkstyle version="8.0">'];
  for (const [file, list] of byFile) {
    out.push(`  <file name="${xml(file)}">`);
    for (const f of list) {
      const column = f.column ? ` column="${f.column}"` : "";
      out.push(
        `    <error line="${f.line}"${column} severity="${f.severity}" message="${xml(f.message)}" source="${xml(f.rule)}"/>`,
      );
    }
    out.push("  </file>");
  }
  out.push("</checkstyle>", "");
  return out.join("\n");
}

function xml(text: string): string {
  return (
    text
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/\n/g, "&#10;")
      // XML 1.0 allows no other control characters.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "")
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
