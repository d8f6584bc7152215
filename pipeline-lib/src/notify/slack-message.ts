/**
 * The Slack message for a pipeline run, as Block Kit JSON: a header with the
 * outcome, then the environment, commit and author, image digest, duration and
 * (on a failure) the failing stage, and a link to the build. Plain data in,
 * plain data out.
 */
export const NOTIFY_STATUSES = ["success", "failure", "fixed", "aborted"] as const;
export type NotifyStatus = (typeof NOTIFY_STATUSES)[number];

export interface RunFacts {
  status: NotifyStatus;
  /** The app or job, for the header: build.json's `app`, else JOB_NAME. */
  app?: string;
  environment?: string;
  branch?: string;
  commit?: string;
  /** The commit's subject line. */
  subject?: string;
  author?: string;
  /** `repository@sha256:…`, or the digest alone. */
  image?: string;
  buildUrl?: string;
  buildNumber?: string;
  /** Jenkins' durationString, or seconds formatted by `formatDuration`. */
  duration?: string;
  failedStage?: string;
}

const OUTCOME: Record<NotifyStatus, { emoji: string; verb: string }> = {
  success: { emoji: ":white_check_mark:", verb: "succeeded" },
  failure: { emoji: ":x:", verb: "failed" },
  fixed: { emoji: ":large_green_circle:", verb: "is fixed" },
  // Stopped by a person or a timeout (a release nobody approved in time).
  aborted: { emoji: ":no_entry_sign:", verb: "was aborted" },
};

type TextObject = { type: "plain_text" | "mrkdwn"; text: string; emoji?: boolean };
type Block =
  | { type: "header"; text: TextObject }
  | { type: "section"; text?: TextObject; fields?: TextObject[] }
  | { type: "context"; elements: TextObject[] };

export interface SlackMessage {
  /** The notification text and what clients without Block Kit show. */
  text: string;
  blocks: Block[];
}

export function slackMessage(facts: RunFacts): SlackMessage {
  const { emoji, verb } = OUTCOME[facts.status];
  const what = facts.app ?? "pipeline";
  const where = facts.environment ? ` in ${facts.environment}` : "";
  const stopped = facts.status === "failure" || facts.status === "aborted";
  const stage = stopped && facts.failedStage ? ` at ${facts.failedStage}` : "";
  const headline = `${what}${where} ${verb}${stage}`;

  const fields: TextObject[] = [];
  const field = (label: string, value: string | undefined) => {
    if (value) fields.push(mrkdwn(`*${label}*\n${value}`.slice(0, 2000)));
  };
  if (facts.status === "failure") field("Failed stage", escape(facts.failedStage ?? "unknown"));
  if (facts.status === "aborted") field("Stopped at", escape(facts.failedStage ?? "unknown"));
  field("Environment", facts.environment && escape(facts.environment));
  field("Branch", facts.branch && escape(facts.branch));
  field("Commit", facts.commit && commitText(facts));
  field("Author", facts.author && escape(facts.author));
  field("Image", facts.image && `\`${escape(facts.image)}\``);
  field("Duration", facts.duration && escape(facts.duration));

  const blocks: Block[] = [
    {
      type: "header",
      text: { type: "plain_text", text: `${headline}`.slice(0, 150), emoji: true },
    },
  ];
  if (fields.length > 0) blocks.push({ type: "section", fields: fields.slice(0, 10) });
  if (facts.buildUrl) {
    const label = facts.buildNumber ? `Build #${facts.buildNumber}` : "The build";
    blocks.push({
      type: "section",
      text: mrkdwn(
        `<${linkTarget(facts.buildUrl)}|${escape(label)}>: console, test reports, artifacts`,
      ),
    });
  }
  blocks.push({
    type: "context",
    elements: [mrkdwn(`${emoji} ${facts.status} · sent by \`pipeline notify\``)],
  });
  return { text: `${emoji} ${headline}`, blocks };
}

function commitText(facts: RunFacts): string {
  const short = `\`${escape(facts.commit!.slice(0, 12))}\``;
  return facts.subject ? `${short} ${escape(facts.subject.slice(0, 150))}` : short;
}

/** Seconds as people read them: `45 s`, `3 min 7 s`, `1 h 2 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function mrkdwn(text: string): TextObject {
  return { type: "mrkdwn", text };
}

/** Slack's mrkdwn needs &, < and > escaped; nothing else. */
function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A URL inside `<url|label>` must not contain `|` or `>`. */
function linkTarget(url: string): string {
  return url.replace(/\|/g, "%7C").replace(/>/g, "%3E");
}
