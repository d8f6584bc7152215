import { isValidTag } from "../reference/image-reference.js";

/** The content tag: the same build inputs always give the same tag. */
export function contentTag(treeHash: string): string {
  return `tree-${treeHash}`;
}

/**
 * `<branch>-<build number>`, for people reading the registry: `feature/login`
 * build 42 becomes `feature-login-42`. Undefined when either part is unknown.
 */
export function branchBuildTag(branch?: string, buildNumber?: string): string | undefined {
  if (!branch || !buildNumber) return undefined;
  const safeBranch = branch
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .replace(/^[.-]+/, "")
    .replace(/-+$/, "");
  const safeNumber = buildNumber.replace(/[^A-Za-z0-9_.-]+/g, "-");
  const tag = `${safeBranch.slice(0, 127 - safeNumber.length)}-${safeNumber}`;
  return isValidTag(tag) ? tag : undefined;
}

/** The tags for one build: the content tag first, then the branch-build tag if any. */
export function imageTags(input: {
  treeHash: string;
  branch?: string;
  buildNumber?: string;
}): string[] {
  const tags = [contentTag(input.treeHash)];
  const extra = branchBuildTag(input.branch, input.buildNumber);
  if (extra) tags.push(extra);
  return tags;
}
