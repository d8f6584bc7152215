import { gatherRunFacts, type RunFactsDeps } from "../notify/run-facts.js";
import {
  DEFAULT_RETRY_POLICY,
  redact,
  sendWebhook,
  webhookOrigin,
  type RetryPolicy,
  type WebhookDeps,
} from "../notify/send-webhook.js";
import { slackMessage, type NotifyStatus } from "../notify/slack-message.js";
import type { CommandContext } from "./context.js";

export interface NotifyOptions {
  status: NotifyStatus;
  /** The stage that failed (else FAILED_STAGE). */
  stage?: string;
  /** The environment the run deployed to. */
  env?: string;
  /** build.json, for the image digest. */
  artifact: string;
  /** How long the run took, in seconds (else BUILD_DURATION or BUILD_START). */
  duration?: number;
}

export interface NotifyDeps extends WebhookDeps, RunFactsDeps {
  policy: RetryPolicy;
}

export interface NotifyResult {
  status: NotifyStatus;
  /** False when no webhook is configured. */
  sent: boolean;
  delivered: boolean;
  attempts: number;
  httpStatus?: number;
  reason?: string;
}

export const WEBHOOK_ENV = "SLACK_WEBHOOK_URL";

/**
 * Tells Slack how a run ended. A notification is news about the pipeline, not
 * part of it: a webhook that is missing, refuses or does not answer is a
 * warning, and the command exits 0 whatever happens to the message. The
 * webhook URL is a secret and is never printed.
 */
export async function notify(
  options: NotifyOptions,
  ctx: CommandContext,
  deps: Partial<NotifyDeps> = {},
): Promise<NotifyResult> {
  const { reporter } = ctx;
  const url = ctx.env[WEBHOOK_ENV]?.trim();
  const base = { status: options.status, delivered: false, attempts: 0 };
  if (!url) {
    const result = { ...base, sent: false };
    reporter.result(`${WEBHOOK_ENV} is not set; no Slack notification sent`, result);
    return result;
  }
  try {
    const protocol = new URL(url).protocol;
    if (protocol !== "https:" && protocol !== "http:") throw new Error(protocol);
  } catch {
    const result = { ...base, sent: false, reason: `${WEBHOOK_ENV} is not an http(s) URL` };
    reporter.warn(`${result.reason}; no Slack notification sent`);
    reporter.result(`no Slack notification sent`, result);
    return result;
  }

  try {
    // The app's name for the header; a config that does not load costs only that.
    const app = await ctx.config().then(
      (config) => config.app.name,
      (error: unknown) => {
        reporter.detail(`no app name from the config: ${(error as Error).message}`);
        return undefined;
      },
    );
    const { facts, notes } = await gatherRunFacts(
      {
        status: options.status,
        environment: options.env,
        stage: options.stage,
        durationSeconds: options.duration,
        artifact: options.artifact,
        app,
      },
      { env: ctx.env, cwd: ctx.cwd },
      deps,
    );
    for (const note of notes) reporter.detail(note);
    const message = slackMessage(facts);
    const origin = webhookOrigin(url);
    reporter.progress(`posting to the Slack webhook at ${origin}: ${message.text}`);
    const outcome = await sendWebhook(url, message, {
      policy: deps.policy ?? DEFAULT_RETRY_POLICY,
      signal: ctx.signal,
      deps,
    });
    const tries = `${outcome.attempts} attempt${outcome.attempts === 1 ? "" : "s"}`;
    if (outcome.delivered) {
      const result = {
        ...base,
        sent: true,
        delivered: true,
        attempts: outcome.attempts,
        httpStatus: outcome.status,
      };
      reporter.result(`notified Slack: ${message.text} (${tries})`, result);
      return result;
    }
    const result = {
      ...base,
      sent: true,
      attempts: outcome.attempts,
      httpStatus: outcome.status,
      reason: outcome.reason,
    };
    reporter.warn(
      `the Slack notification was not delivered after ${tries}: ${outcome.reason} ` +
        `(webhook at ${origin}; the pipeline carries on)`,
    );
    reporter.result("Slack notification not delivered", result);
    return result;
  } catch (error) {
    // Nothing above should throw; if it does, it still must not fail the run.
    const reason = redact(error instanceof Error ? error.message : String(error), url);
    reporter.warn(`the Slack notification failed: ${reason} (the pipeline carries on)`);
    const result = { ...base, sent: true, reason };
    reporter.result("Slack notification not delivered", result);
    return result;
  }
}
