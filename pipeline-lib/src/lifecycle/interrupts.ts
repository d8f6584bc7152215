/**
 * SIGINT and SIGTERM (Ctrl-C, Jenkins aborting a build) become an AbortSignal
 * that long commands watch, so that they can clean up: a deploy rolls back to
 * a healthy revision and releases its lock before the process exits. A second
 * signal while cleaning up ends the process at once.
 */
let controller: AbortController | undefined;

export function interruptSignal(): AbortSignal {
  if (controller) return controller.signal;
  const own = new AbortController();
  controller = own;
  const onSignal = (signal: NodeJS.Signals) => {
    if (own.signal.aborted) {
      process.stderr.write(`pipeline: ${signal} again; exiting without cleaning up\n`);
      process.exit(130);
    }
    process.stderr.write(`pipeline: ${signal} received; cleaning up (send it again to exit now)\n`);
    own.abort(new Error(`interrupted by ${signal}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return own.signal;
}
