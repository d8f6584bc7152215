import * as k8s from "@kubernetes/client-node";

/** The `Status` an API server answers a refused request with. */
export interface KubeStatus {
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    kind?: string;
    causes?: { field?: string; message?: string; reason?: string }[];
  };
}

/**
 * An API server's refusal: the HTTP code and its `Status`. client-node's own
 * `ApiException` puts the raw body and every response header in its message,
 * which is unreadable in a build log; this keeps the server's words only.
 */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly status: KubeStatus | undefined,
  ) {
    super(describeStatus(code, status));
    this.name = "KubeApiError";
  }
}

/** Turns client-node's `ApiException` into a `KubeApiError`; anything else is returned as is. */
export function toKubeApiError(error: unknown): unknown {
  if (error instanceof KubeApiError || !(error instanceof k8s.ApiException)) return error;
  const { code, body, message } = error as k8s.ApiException<unknown>;
  // With no body (a 401), the generated client's own words are all there is.
  const summary = /^Message: (.+)$/m.exec(message)?.[1];
  return new KubeApiError(code, parseStatus(body) ?? (summary ? { message: summary } : undefined));
}

/** The HTTP code of an API server's refusal, or undefined for anything else (a network error). */
export function statusCodeOf(error: unknown): number | undefined {
  const converted = toKubeApiError(error);
  return converted instanceof KubeApiError ? converted.code : undefined;
}

export function parseStatus(body: unknown): KubeStatus | undefined {
  if (typeof body === "string") {
    try {
      return parseStatus(JSON.parse(body));
    } catch {
      return body.trim() ? { message: body.trim() } : undefined;
    }
  }
  if (Buffer.isBuffer(body)) return parseStatus(body.toString("utf8"));
  return typeof body === "object" && body !== null ? body : undefined;
}

/** The server's message, then each field cause it does not already mention. */
function describeStatus(code: number, status: KubeStatus | undefined): string {
  const message =
    status?.message?.trim() || `HTTP ${code}${status?.reason ? ` ${status.reason}` : ""}`;
  const causes = (status?.details?.causes ?? [])
    .map((c) => [c.field, c.message].filter(Boolean).join(": "))
    .filter((text) => text && !message.includes(text));
  return [message, ...causes].join("; ");
}
