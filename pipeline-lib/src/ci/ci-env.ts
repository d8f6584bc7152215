/** What Jenkins (or a person) tells us about the build through the environment. */
export interface CiEnv {
  /** BUILD_NUMBER */
  buildNumber?: string;
  /** BUILD_URL */
  buildUrl?: string;
  /** GIT_COMMIT */
  gitCommit?: string;
  /** BRANCH_NAME (multibranch) or GIT_BRANCH without its remote. */
  branch?: string;
}

export function readCiEnv(env: NodeJS.ProcessEnv = process.env): CiEnv {
  const pick = (name: string) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const gitBranch = pick("GIT_BRANCH")?.replace(/^(origin|refs\/heads)\//, "");
  return {
    buildNumber: pick("BUILD_NUMBER"),
    buildUrl: pick("BUILD_URL"),
    gitCommit: pick("GIT_COMMIT"),
    branch: pick("BRANCH_NAME") ?? gitBranch,
  };
}
