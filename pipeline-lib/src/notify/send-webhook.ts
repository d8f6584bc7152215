/**
 * Posts a JSON payload to an incoming webhook (Slack's), retrying what may
 * pass on a second try: network errors, timeouts, 5xx and 429. It never
 * throws: the outcome says whether the message was delivered, after how many
 * attempts, and why not. The webhook URL is a secret (whoever has it can post
 * to the channel), so no outcome, message or cause ever contains it.
 *
 * Plain fetch, not @slack/webhook: its v8 is fetch-based too, but it fails a
 * 429 at once (no Retry-After), throws where we must never throw, and would
 * add p-retry and retry for what is one loop here.
 */
export interface WebhookDeps {
  fetch: typeof fetch;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** The wait before the second try; it doubles for each try after that. */
  firstDelayMs: number;
  /** Each try gives up after this long. */
  timeoutMs: number;
  /** The longest wait a 429's Retry-After may ask for. */
  maxRetryAfterMs: number;
}

/** 4 tries, 0.5 s, 1 s and 2 s apart, 5 s each: about 24 s at the very worst. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 4,
  firstDelayMs: 500,
  timeoutMs: 5_000,
  maxRetryAfterMs: 10_000,
};

export type WebhookOutcome =
  | { delivered: true; attempts: number; status: number }
  | { delivered: false; attempts: number; status?: number; reason: string };

export async function sendWebhook(
  url: string,
  payload: unknown,
  {
    policy = DEFAULT_RETRY_POLICY,
    signal,
    deps = {},
  }: { policy?: RetryPolicy; signal?: AbortSignal; deps?: Partial<WebhookDeps> } = {},
): Promise<WebhookOutcome> {
  const { fetch: fetchImpl = globalThis.fetch, sleep: sleepImpl = sleep } = deps;
  const body = JSON.stringify(payload);
  let last: { status?: number; reason: string } = { reason: "not attempted" };
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (signal?.aborted) return { delivered: false, attempts: attempt - 1, reason: "interrupted" };
    const tryOnce = await post(fetchImpl, url, body, policy.timeoutMs, signal);
    if (tryOnce.kind === "ok")
      return { delivered: true, attempts: attempt, status: tryOnce.status };
    last = {
      status: tryOnce.kind === "http" ? tryOnce.status : undefined,
      reason: redact(tryOnce.reason, url),
    };
    if (!tryOnce.retry || attempt === policy.attempts) {
      return { delivered: false, attempts: attempt, ...last };
    }
    const backoff = policy.firstDelayMs * 2 ** (attempt - 1);
    const asked = tryOnce.kind === "http" ? tryOnce.retryAfterMs : undefined;
    const wait = Math.max(backoff, Math.min(asked ?? 0, policy.maxRetryAfterMs));
    try {
      await sleepImpl(wait, signal);
    } catch {
      return {
        delivered: false,
        attempts: attempt,
        ...last,
        reason: `${last.reason}; interrupted`,
      };
    }
  }
  return { delivered: false, attempts: policy.attempts, ...last };
}

type Try =
  | { kind: "ok"; status: number }
  | { kind: "http"; status: number; retry: boolean; retryAfterMs?: number; reason: string }
  | { kind: "network"; retry: boolean; reason: string };

async function post(
  fetchImpl: typeof fetch,
  url: string,
  body: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Try> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const response = await fetchImpl(url, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body,
      redirect: "error",
      signal: combined,
    });
    // Slack answers "ok"; its errors say what is wrong in a word (invalid_payload, no_service).
    const text = (await response.text().catch(() => "")).trim();
    if (response.ok) return { kind: "ok", status: response.status };
    const retry = response.status >= 500 || response.status === 429;
    const said = text ? `: ${text.replace(/\s+/g, " ").slice(0, 200)}` : "";
    return {
      kind: "http",
      status: response.status,
      retry,
      retryAfterMs: retryAfterMs(response.headers.get("retry-after")),
      reason: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}${said}`,
    };
  } catch (error) {
    if (signal?.aborted) return { kind: "network", retry: false, reason: "interrupted" };
    if (timeout.aborted) {
      return { kind: "network", retry: true, reason: `no answer within ${timeoutMs / 1000} s` };
    }
    return { kind: "network", retry: true, reason: networkReason(error) };
  }
}

/** `fetch failed` says nothing; its cause says ECONNREFUSED, ENOTFOUND, a TLS error… */
function networkReason(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(
      typeof code === "string" && !current.message.includes(code)
        ? `${code} ${current.message}`
        : current.message,
    );
    current = current.cause;
  }
  return parts.join(": ") || String(error);
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Removes the URL, and its path and query on their own, from a text. */
export function redact(text: string, url: string): string {
  const secrets = new Set<string>([url]);
  try {
    const parsed = new URL(url);
    secrets.add(parsed.href);
    if (parsed.pathname.length > 1) secrets.add(parsed.pathname);
    if (parsed.search) secrets.add(parsed.search);
  } catch {
    // Not a URL: only the text as given is secret.
  }
  let result = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret) result = result.split(secret).join("<redacted>");
  }
  return result;
}

/** Where the webhook points, without its secret path: `https://hooks.slack.com`. */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error("interrupted"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error("interrupted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
