import { pino, type Logger } from "pino";
import type { LogLevel } from "./config/load-config.js";

/**
 * JSON lines on stdout, the format log collectors on Kubernetes expect.
 *
 * Written asynchronously (pino.destination with `sync: false`): a line is
 * appended to a buffer and the buffer goes to stdout in one write as soon as
 * the previous write has finished, so under load many lines share a write
 * instead of each request blocking on its own, and an idle service still
 * writes each line at once. Before a deliberate exit, `drainLogger` waits for
 * what is buffered and in flight; anything left is written synchronously when
 * the process exits, including through process.exit().
 */
export function createLogger(level: LogLevel): Logger {
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = pino(
    {
      level,
      base: { service: "visit-counter" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: ["req.headers.cookie", "req.headers.authorization"],
    },
    destination,
  );
  destinations.set(logger, destination);
  return logger;
}

const destinations = new WeakMap<Logger, ReturnType<typeof pino.destination>>();

/**
 * Waits until every line logged so far is on stdout, whole and in order; call
 * it right before process.exit(). Without it, the synchronous flush that runs
 * at exit writes the buffered lines while an earlier write may still be in
 * flight: they overtake it, or cut into it (a request line logged just before
 * "store closed" came out after it). Gives up after `timeoutMs` (a stdout
 * nobody reads), leaving the exit's own flush. Logging after it is lost.
 */
export function drainLogger(logger: Logger, timeoutMs = 1_000): Promise<void> {
  const destination = destinations.get(logger);
  if (!destination) return Promise.resolve();
  let drained = drains.get(destination);
  if (!drained) {
    drained = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      destination.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      destination.end();
    });
    drains.set(destination, drained);
  }
  return drained;
}

/** One drain per destination: a second caller waits for the first. */
const drains = new WeakMap<object, Promise<void>>();
