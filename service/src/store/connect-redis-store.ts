import type { Logger } from "pino";
import { createRedisClient } from "./create-redis-client.js";
import { RedisVisitStore } from "./redis-visit-store.js";

export interface ConnectRedisStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  logger: Logger;
}

/**
 * A RedisVisitStore whose client connects in the background: the service
 * starts even when Redis is down (readiness stays 503 until it is up) and
 * logs each outage once rather than every reconnection attempt.
 */
export function connectRedisStore(options: ConnectRedisStoreOptions): RedisVisitStore {
  const { logger } = options;
  const redis = createRedisClient({ url: options.url, commandTimeoutMs: options.commandTimeoutMs });
  const target = redisTarget(options.url);
  let down = false;
  redis.on("ready", () => {
    logger.info({ redis: target }, down ? "Redis is back" : "connected to Redis");
    down = false;
  });
  redis.on("error", (err: Error) => {
    if (down) logger.debug({ redis: target, reason: err.message }, "Redis still unreachable");
    else logger.warn({ redis: target, reason: err.message }, "Redis is unreachable; retrying");
    down = true;
  });
  // Emitted only when ioredis will reconnect, never after our own QUIT.
  redis.on("reconnecting", (delayMs: number) => {
    if (!down) logger.warn({ redis: target, delayMs }, "lost the Redis connection; reconnecting");
    down = true;
  });
  redis.connect().catch(() => {
    // Reported by the error listener; ioredis keeps retrying with backoff.
  });
  return new RedisVisitStore(redis, {
    keyPrefix: options.keyPrefix,
    operationTimeoutMs: options.commandTimeoutMs * 2,
  });
}

/** host:port/db without credentials, for logs. */
function redisTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}
