import type { StageCondition, StageDefinition } from "./stage-definitions.js";

/** What a stage's `when` is evaluated against when a pipeline runs outside Jenkins. */
export interface LocalBuild {
  /** Jenkins' BRANCH_NAME: `develop`, `master`, or `PR-<n>` for a pull request. */
  branch: string;
}

/**
 * Whether Jenkins would run the stage on this branch: every condition must
 * hold. `branch` takes Ant-style patterns (`release/*`, `**`), a change request
 * is a `PR-<n>` branch, and an `expression` (Groovy, such as a parameter)
 * counts as holding: locally there is nobody to ask.
 */
export function stageRuns(stage: Pick<StageDefinition, "when">, build: LocalBuild): boolean {
  return (stage.when ?? []).every((condition) => conditionHolds(condition, build));
}

function conditionHolds(condition: StageCondition, { branch }: LocalBuild): boolean {
  if ("branch" in condition) return globMatches(condition.branch, branch);
  if ("changeRequest" in condition) return /^PR-\d+$/.test(branch) === condition.changeRequest;
  return true;
}

/** The `when` of a stage in words: `branch 'develop' and params.LOUD`. */
export function describeWhen(stage: Pick<StageDefinition, "when">): string {
  return (stage.when ?? [])
    .map((c) =>
      "branch" in c
        ? `branch '${c.branch}'`
        : "changeRequest" in c
          ? c.changeRequest
            ? "a pull request"
            : "not a pull request"
          : c.expression,
    )
    .join(" and ");
}

function globMatches(pattern: string, value: string): boolean {
  const regex = pattern
    .split(/(\*\*|\*|\?)/)
    .map((part) =>
      part === "**"
        ? ".*"
        : part === "*"
          ? "[^/]*"
          : part === "?"
            ? "[^/]"
            : part.replace(/[.+^${}()|[\]\\]/g, "\\$&"),
    )
    .join("");
  return new RegExp(`^${regex}$`).test(value);
}
