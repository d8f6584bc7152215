import { pino, type Logger } from "pino";
import type { LogLevel } from "./config/load-config.js";

/** JSON lines on stdout, the format log collectors on Kubernetes expect. */
export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: "visit-counter" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: ["req.headers.cookie", "req.headers.authorization"],
  });
}
