import { ConfigError } from "./config-error.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface BuildInfo {
  version: string;
  commit: string;
  buildTime: string;
}

export interface Config {
  port: number;
  host: string;
  /** Unset means the embedded in-memory store. */
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  redisCommandTimeoutMs: number;
  logLevel: LogLevel;
  /** Upper bound for a graceful shutdown; after it the process exits 1. */
  shutdownTimeoutMs: number;
  /** Time between SIGTERM and closing the listener, during which /readyz answers 503. */
  shutdownDelayMs: number;
  readinessTimeoutMs: number;
  bodyLimitBytes: number;
  /** Trust X-Forwarded-* headers (set it behind an ingress or load balancer). */
  trustProxy: boolean;
  build: BuildInfo;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates the configuration from environment variables. Pure: it
 * never touches process.env itself, so it is tested with plain tables.
 * @throws ConfigError naming the first variable that is wrong.
 */
export function loadConfig(env: Env): Config {
  const redisUrl = optional(env, "REDIS_URL");
  if (redisUrl !== undefined) validateRedisUrl(redisUrl);
  const shutdownTimeoutMs = integer(env, "SHUTDOWN_TIMEOUT_MS", 10_000, 1, 600_000);
  const shutdownDelayMs = integer(env, "SHUTDOWN_DELAY_MS", 0, 0, 600_000);
  if (shutdownDelayMs >= shutdownTimeoutMs) {
    throw new ConfigError(
      "SHUTDOWN_DELAY_MS",
      `${shutdownDelayMs} must be smaller than SHUTDOWN_TIMEOUT_MS (${shutdownTimeoutMs}); ` +
        "lower the delay or raise the timeout",
    );
  }
  return {
    port: integer(env, "PORT", 3000, 0, 65_535),
    host: optional(env, "HOST") ?? "0.0.0.0",
    redisUrl,
    redisKeyPrefix: keyPrefix(env),
    redisCommandTimeoutMs: integer(env, "REDIS_COMMAND_TIMEOUT_MS", 500, 10, 60_000),
    logLevel: oneOf(env, "LOG_LEVEL", LOG_LEVELS, "info"),
    shutdownTimeoutMs,
    shutdownDelayMs,
    readinessTimeoutMs: integer(env, "READINESS_TIMEOUT_MS", 500, 10, 60_000),
    bodyLimitBytes: integer(env, "BODY_LIMIT_BYTES", 16 * 1024, 0, 10 * 1024 * 1024),
    trustProxy: boolean(env, "TRUST_PROXY", false),
    build: {
      version: optional(env, "APP_VERSION") ?? "0.0.0-dev",
      commit: optional(env, "GIT_COMMIT") ?? "unknown",
      buildTime: optional(env, "BUILD_TIME") ?? "unknown",
    },
  };
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(
      name,
      `"${raw}" is not a whole number; set it to ${min}–${max} or unset it`,
    );
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `${value} is out of range; set it to ${min}–${max} or unset it`);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = optional(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes"].includes(raw)) return true;
  if (["0", "false", "no"].includes(raw)) return false;
  throw new ConfigError(name, `"${raw}" is not a boolean; use true or false`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  const match = allowed.find((candidate) => candidate === raw);
  if (match === undefined) {
    throw new ConfigError(name, `"${raw}" is not one of ${allowed.join(", ")}`);
  }
  return match;
}

function keyPrefix(env: Env): string {
  const raw = env.REDIS_KEY_PREFIX ?? "visit-counter:";
  if (!/^[\w.:-]{0,64}$/.test(raw)) {
    throw new ConfigError(
      "REDIS_KEY_PREFIX",
      `"${raw}" may hold only letters, digits and _ . : - (at most 64 characters)`,
    );
  }
  return raw;
}

function validateRedisUrl(raw: string): void {
  const hint =
    "expected redis://[user:password@]host[:port][/db] or rediss://…, or unset it to use the in-memory store";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("REDIS_URL", `not a URL; ${hint}`);
  }
  // Never echo the URL back: it may carry a password.
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new ConfigError("REDIS_URL", `scheme "${url.protocol}" is not supported; ${hint}`);
  }
  if (url.hostname === "") throw new ConfigError("REDIS_URL", `no host; ${hint}`);
  const db = url.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d{1,2}$/.test(db)) {
    throw new ConfigError("REDIS_URL", `database "${db}" is not a number; ${hint}`);
  }
}
