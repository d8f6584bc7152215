import { pino, type Logger } from "pino";
import type { LogLevel } from "./config/load-config.js";

/**
 * JSON lines on stdout, the format log collectors on Kubernetes expect.
 *
 * Written asynchronously (pino.destination with `sync: false`): a line is
 * appended to a buffer and the buffer goes to stdout in one write as soon as
 * the previous write has finished, so under load many lines share a write
 * instead of each request blocking on its own, and an idle service still
 * writes each line at once. What is buffered is written synchronously when
 * the process exits, including through process.exit().
 */
export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { service: "visit-counter" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: ["req.headers.cookie", "req.headers.authorization"],
    },
    pino.destination({ dest: 1, sync: false }),
  );
}
