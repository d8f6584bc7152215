/**
 * What commands tell people while they run. Progress goes to stderr with the
 * elapsed time and the stage, so stdout stays free for the result, which is
 * either a short human summary or, with --json, one JSON document.
 */
export interface Reporter {
  /** A line of progress: a build step, what is being waited on. */
  progress(message: string): void;
  /** Detail shown only with --verbose (for example every line of build output). */
  detail(message: string): void;
  warn(message: string): void;
  /** The command's result, printed once at the end. */
  result(summary: string, data: object): void;
}

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

export interface ConsoleReporterOptions {
  stage: string;
  json?: boolean;
  verbose?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  clock?: Clock;
}

export class ConsoleReporter implements Reporter {
  readonly #started: number;
  readonly #options: Required<ConsoleReporterOptions>;

  constructor(options: ConsoleReporterOptions) {
    this.#options = {
      json: false,
      verbose: false,
      stdout: process.stdout,
      stderr: process.stderr,
      clock: systemClock,
      ...options,
    };
    this.#started = this.#options.clock.now();
  }

  progress(message: string): void {
    this.#line(message);
  }

  detail(message: string): void {
    if (this.#options.verbose) this.#line(message);
  }

  warn(message: string): void {
    this.#line(`warning: ${message}`);
  }

  result(summary: string, data: object): void {
    const { json, stdout } = this.#options;
    stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${summary}\n`);
  }

  #line(message: string): void {
    const { clock, stage, stderr } = this.#options;
    const elapsed = ((clock.now() - this.#started) / 1000).toFixed(1);
    for (const line of message.split("\n")) {
      stderr.write(`[${stage} +${elapsed}s] ${line}\n`);
    }
  }
}

/** A reporter that keeps everything, for tests. */
export class MemoryReporter implements Reporter {
  readonly lines: string[] = [];
  readonly results: { summary: string; data: object }[] = [];
  progress(message: string): void {
    this.lines.push(message);
  }
  detail(message: string): void {
    this.lines.push(message);
  }
  warn(message: string): void {
    this.lines.push(`warning: ${message}`);
  }
  result(summary: string, data: object): void {
    this.results.push({ summary, data });
  }
}
