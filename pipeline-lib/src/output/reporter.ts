import { styleText } from "node:util";

/**
 * What commands tell people while they run. Progress goes to stderr with the
 * elapsed time and the stage, so stdout stays free for the result, which is
 * either a short human summary or, with --json, one JSON document.
 */
export interface Reporter {
  /** A line of progress: a step done, a decision taken. It stays in the log. */
  progress(message: string): void;
  /**
   * What is being waited on right now (a build step, a push, a rollout, a
   * lock). On a terminal it updates in place, its elapsed time ticking, until
   * the next progress line; elsewhere it is a plain line like progress.
   */
  status(message: string): void;
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

/** The bits of a stream the reporter looks at: a TTY stream has `isTTY` and `columns`. */
export type OutputStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ConsoleReporterOptions {
  stage: string;
  json?: boolean;
  verbose?: boolean;
  stdout?: OutputStream;
  stderr?: OutputStream;
  clock?: Clock;
  /** For NO_COLOR, FORCE_COLOR, TERM and CI; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

/** How often a live status line redraws its elapsed time on a terminal. */
const TICK_MS = 1000;

/**
 * Whether stderr is a terminal a person watches: then status lines update in
 * place. In CI (CI=true, as Jenkins and GitHub set it), on a dumb terminal or
 * in a pipe every line is a plain line.
 */
export function isInteractive(stream: OutputStream, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && env.CI !== "true" && env.TERM !== "dumb";
}

/**
 * Whether to colour: never with NO_COLOR set (https://no-color.org), always
 * with FORCE_COLOR set to anything but 0, else only on an interactive terminal.
 */
export function useColor(stream: OutputStream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== "0";
  return isInteractive(stream, env);
}

export class ConsoleReporter implements Reporter {
  readonly #started: number;
  readonly #options: Required<ConsoleReporterOptions>;
  readonly #interactive: boolean;
  readonly #color: boolean;
  /** The status line shown in place (interactive only), and when it began. */
  #live: { message: string; since: number } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ConsoleReporterOptions) {
    this.#options = {
      json: false,
      verbose: false,
      stdout: process.stdout,
      stderr: process.stderr,
      clock: systemClock,
      env: process.env,
      ...options,
    };
    this.#started = this.#options.clock.now();
    this.#interactive = isInteractive(this.#options.stderr, this.#options.env);
    this.#color = useColor(this.#options.stderr, this.#options.env);
  }

  progress(message: string): void {
    this.#endLive();
    this.#lines(message);
  }

  status(message: string): void {
    if (!this.#interactive) {
      this.#lines(message);
      return;
    }
    const now = this.#options.clock.now();
    const since = this.#live?.message === message ? this.#live.since : now;
    const redraw = this.#live !== undefined;
    this.#live = { message, since };
    this.#drawLive(redraw);
    this.#timer ??= setInterval(() => this.#drawLive(true), TICK_MS).unref();
  }

  detail(message: string): void {
    if (this.#options.verbose) this.#above(() => this.#lines(message));
  }

  warn(message: string): void {
    this.#above(() => this.#lines(message, "warning: "));
  }

  result(summary: string, data: object): void {
    this.#endLive();
    const { json, stdout } = this.#options;
    stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${summary}\n`);
  }

  #prefix(): string {
    const { clock, stage } = this.#options;
    const elapsed = ((clock.now() - this.#started) / 1000).toFixed(1);
    return this.#style("dim", `[${stage} +${elapsed}s]`);
  }

  #lines(message: string, label = ""): void {
    const prefix = this.#prefix();
    const styled = label ? this.#style("yellow", label) : "";
    for (const line of message.split("\n")) {
      this.#options.stderr.write(`${prefix} ${styled}${line}\n`);
    }
  }

  /** Writes permanent lines above the live status line, which stays at the bottom. */
  #above(write: () => void): void {
    if (!this.#live) return write();
    this.#options.stderr.write(CLEAR_PREVIOUS_LINE);
    const live = this.#live;
    this.#live = undefined;
    write();
    this.#live = live;
    this.#drawLive(false);
  }

  /**
   * The live line is written with its newline, so anything else written to
   * stderr lands below it; a redraw moves up one line and rewrites it.
   */
  #drawLive(redraw: boolean): void {
    if (!this.#live) return;
    const { message, since } = this.#live;
    const waited = Math.floor((this.#options.clock.now() - since) / 1000);
    const firstLine = message.split("\n")[0]!;
    const tail = waited > 0 ? this.#style("dim", ` (${waited}s)`) : "";
    const width = this.#options.stderr.columns;
    let line = `${this.#prefix()} ${firstLine}`;
    // One terminal row, or the move up would leave pieces of it behind.
    if (width && visibleLength(line) + visibleLength(tail) > width - 1) {
      line = truncateVisible(line, Math.max(10, width - 2 - visibleLength(tail))) + "…";
    }
    this.#options.stderr.write(`${redraw ? CLEAR_PREVIOUS_LINE : ""}${line}${tail}\n`);
  }

  /** The status is over: its last state stays on screen as a plain line. */
  #endLive(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#live = undefined;
  }

  #style(format: "dim" | "yellow", text: string): string {
    return this.#color ? styleText(format, text, { validateStream: false }) : text;
  }
}

/** Up one line, to its start, and erase it. */
const CLEAR_PREVIOUS_LINE = "\x1b[1A\r\x1b[2K";

// Matches the SGR sequences styleText writes.
// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

function visibleLength(text: string): number {
  return text.replace(SGR, "").length;
}

/** Cuts text to `max` visible characters, keeping escape sequences whole and closing them. */
function truncateVisible(text: string, max: number): string {
  let visible = 0;
  let out = "";
  for (let i = 0; i < text.length && visible < max;) {
    SGR.lastIndex = i;
    const match = text[i] === "\x1b" ? SGR.exec(text) : null;
    if (match && match.index === i) {
      out += match[0];
      i += match[0].length;
      continue;
    }
    out += text[i];
    visible++;
    i++;
  }
  return out.includes("\x1b") ? `${out}\x1b[0m` : out;
}

/** A reporter that keeps everything, for tests. */
export class MemoryReporter implements Reporter {
  readonly lines: string[] = [];
  readonly results: { summary: string; data: object }[] = [];
  progress(message: string): void {
    this.lines.push(message);
  }
  status(message: string): void {
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
