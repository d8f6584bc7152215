import { hostname, userInfo } from "node:os";
import { redactUrl } from "../output/redact.js";

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
    // Recorded in build.json, the Deployment and Slack: never with credentials in it.
    buildUrl: mapDefined(pick("BUILD_URL"), redactUrl),
    gitCommit: pick("GIT_COMMIT"),
    branch: pick("BRANCH_NAME") ?? gitBranch,
  };
}

function mapDefined<T, U>(value: T | undefined, map: (value: T) => U): U | undefined {
  return value === undefined ? undefined : map(value);
}

/**
 * Who started this run, for the release record: PIPELINE_TRIGGERED_BY when
 * set; in Jenkins the user who started the build (BUILD_USER_ID, from the
 * build-user-vars plugin) or the pull request's author, with the job and
 * build number; else the local user and host.
 */
export function triggeredBy(
  env: NodeJS.ProcessEnv = process.env,
  host: { user: string; hostname: string } = localIdentity(),
): string {
  const pick = (name: string) => env[name]?.trim() || undefined;
  const explicit = pick("PIPELINE_TRIGGERED_BY");
  if (explicit) return explicit;
  const job = pick("JOB_NAME");
  if (job || pick("BUILD_URL")) {
    const who = pick("BUILD_USER_ID") ?? pick("CHANGE_AUTHOR") ?? "jenkins";
    const number = pick("BUILD_NUMBER");
    return `${who} (${job ?? "jenkins"}${number ? ` #${number}` : ""})`;
  }
  return `${host.user}@${host.hostname}`;
}

/**
 * Who builds and verifies, for provenance and verification summaries: the
 * Jenkins job (JOB_URL, else BUILD_URL without its build number), else
 * `local:<user>@<host>`.
 */
export function builderId(
  env: NodeJS.ProcessEnv = process.env,
  host: { user: string; hostname: string } = localIdentity(),
): string {
  const job = env.JOB_URL?.trim();
  if (job) return job;
  const build = readCiEnv(env).buildUrl;
  if (build) return build.replace(/[0-9]+\/?$/, "");
  return `local:${host.user}@${host.hostname}`;
}

function localIdentity(): { user: string; hostname: string } {
  let user = process.env.USER ?? "unknown";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container running as a bare uid): keep $USER.
  }
  return { user, hostname: hostname() };
}
