import { readArtifact, type BuildArtifact } from "../artifact/build-artifact.js";
import { readCiEnv } from "../ci/ci-env.js";
import { git } from "../image/git.js";
import { formatDuration, type NotifyStatus, type RunFacts } from "./slack-message.js";

export interface RunFactsInput {
  status: NotifyStatus;
  environment?: string;
  /** `--stage`; else FAILED_STAGE. */
  stage?: string;
  /** `--duration` in seconds; else BUILD_DURATION, else now − BUILD_START. */
  durationSeconds?: number;
  /** build.json; a missing or unreadable file leaves the image out. */
  artifact: string;
  /** The config's app name, when the config loads. */
  app?: string;
}

export interface RunFactsDeps {
  git: (
    args: readonly string[],
    options: { cwd: string; env?: NodeJS.ProcessEnv },
  ) => Promise<string>;
  now: () => number;
}

/**
 * What the message says about the run, from the options, Jenkins' variables,
 * build.json and git, each where it is known. Nothing here fails: a fact that
 * cannot be found is left out, and `missing` says why, for --verbose.
 */
export async function gatherRunFacts(
  input: RunFactsInput,
  { env, cwd }: { env: NodeJS.ProcessEnv; cwd: string },
  deps: Partial<RunFactsDeps> = {},
): Promise<{ facts: RunFacts; notes: string[] }> {
  const { git: gitImpl = git, now = Date.now } = deps;
  const pick = (name: string) => env[name]?.trim() || undefined;
  const ci = readCiEnv(env);
  const notes: string[] = [];

  let artifact: BuildArtifact | undefined;
  try {
    artifact = await readArtifact(input.artifact);
  } catch (error) {
    notes.push(`no image digest: ${(error as Error).message}`);
  }
  const gitOut = async (args: string[]) => {
    try {
      return (await gitImpl(args, { cwd, env })) || undefined;
    } catch (error) {
      notes.push(`git ${args.join(" ")}: ${(error as Error).message.split("\n")[0]}`);
      return undefined;
    }
  };

  const commit = ci.gitCommit ?? artifact?.gitCommit ?? (await gitOut(["rev-parse", "HEAD"]));
  // A pull request's build runs on a merge commit that Jenkins made: its author
  // and subject say little, the pull request's say what changed and who changed it.
  const author =
    pick("CHANGE_AUTHOR_DISPLAY_NAME") ??
    pick("CHANGE_AUTHOR") ??
    (commit ? await gitOut(["log", "-1", "--format=%an", commit]) : undefined);
  const subject =
    pick("CHANGE_TITLE") ??
    (commit ? await gitOut(["log", "-1", "--format=%s", commit]) : undefined);

  return {
    facts: {
      status: input.status,
      app: artifact?.app ?? input.app ?? pick("JOB_NAME"),
      environment: input.environment,
      branch: ci.branch ?? artifact?.branch,
      commit,
      subject,
      author,
      image: artifact?.imageRef ?? artifact?.digest,
      buildUrl: ci.buildUrl,
      buildNumber: ci.buildNumber,
      duration: duration(input.durationSeconds, env, now(), notes),
      failedStage: input.stage ?? pick("FAILED_STAGE"),
    },
    notes,
  };
}

/**
 * Jenkins does not export a build's duration. In order: `--duration <s>`;
 * BUILD_DURATION, seconds or Jenkins' `currentBuild.durationString` ("2 min 5
 * sec and counting"); the time since BUILD_START, epoch milliseconds
 * (`currentBuild.startTimeInMillis`), epoch seconds or an ISO 8601 time.
 */
function duration(
  seconds: number | undefined,
  env: NodeJS.ProcessEnv,
  now: number,
  notes: string[],
): string | undefined {
  if (seconds !== undefined) return formatDuration(seconds);
  const given = env.BUILD_DURATION?.trim();
  if (given) {
    return /^\d+(\.\d+)?$/.test(given)
      ? formatDuration(Number(given))
      : given.replace(/\s+and counting$/, "");
  }
  const start = env.BUILD_START?.trim();
  if (!start) return undefined;
  const startMs = /^\d+$/.test(start)
    ? Number(start) * (start.length <= 10 ? 1000 : 1)
    : Date.parse(start);
  if (Number.isNaN(startMs) || startMs > now) {
    notes.push(`BUILD_START "${start}" is not a time in the past; no duration`);
    return undefined;
  }
  return formatDuration((now - startMs) / 1000);
}
