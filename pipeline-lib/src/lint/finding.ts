/** One problem that `pipeline lint` found, where it is and which rule says so. */
export interface Finding {
  /** Path relative to the project root, `/`-separated. */
  readonly file: string;
  /** 1-based; 1 when the problem belongs to the whole file. */
  readonly line: number;
  readonly column?: number;
  /** `<area>/<rule>`, such as `dockerfile/npm-ci`. */
  readonly rule: string;
  readonly severity: Severity;
  readonly message: string;
}

export type Severity = "error" | "warning";

/** The lint areas, each one a `--skip` value. */
export const LINT_AREAS = [
  "typescript",
  "dockerfile",
  "manifests",
  "jenkinsfiles",
  "shell",
] as const;
export type LintArea = (typeof LINT_AREAS)[number];

/** Findings in file, line, column order (stable for equal positions). */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) => a.file.localeCompare(b.file) || a.line - b.line || (a.column ?? 0) - (b.column ?? 0),
  );
}
