import { pino, type Logger } from "pino";
import { Writable } from "node:stream";

export interface CapturedLogger {
  logger: Logger;
  /** Parsed JSON log lines written so far. */
  lines: Record<string, unknown>[];
}

/** A real pino logger that writes into memory, so tests can assert on what was logged. */
export function captureLogger(): CapturedLogger {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}
