import { Redis } from "ioredis";

export interface RedisClientOptions {
  url: string;
  /** Per-command timeout; a command without an answer by then rejects. */
  commandTimeoutMs: number;
}

/** The longest pause between two reconnection attempts. */
export const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * An ioredis client tuned to fail fast instead of queueing: while Redis is
 * down, commands reject at once (no offline queue) so requests answer 503
 * promptly, and the client keeps reconnecting with capped backoff so the
 * service recovers by itself. Callers must listen for `error` events.
 *
 * Auto-pipelining: commands issued in the same tick of the event loop (by
 * concurrent requests) go to Redis in one write and their answers come back
 * in one read, instead of one write and one read each. Each command keeps
 * its own answer and its own timeout.
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  return new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(1_000, options.commandTimeoutMs),
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS),
    // Without the offline queue, a command sent before the first connect fails; that is intended.
    enableReadyCheck: true,
    enableAutoPipelining: true,
  });
}
