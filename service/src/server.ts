/**
 * The process entry: reads the configuration, builds the store, listens and
 * handles signals. Exit codes: 0 clean shutdown, 1 runtime failure or a
 * shutdown that overran SHUTDOWN_TIMEOUT_MS, 2 configuration error.
 */
import type { AddressInfo } from "node:net";
import { createApp } from "./app.js";
import { ConfigError } from "./config/config-error.js";
import { loadConfig, type Config } from "./config/load-config.js";
import { gracefulShutdown } from "./lifecycle/graceful-shutdown.js";
import { Readiness } from "./lifecycle/readiness.js";
import { createLogger, drainLogger } from "./logger.js";
import { createMetrics } from "./metrics/create-metrics.js";
import { connectRedisStore } from "./store/connect-redis-store.js";
import { MemoryVisitStore } from "./store/memory-visit-store.js";
import type { VisitStore } from "./store/visit-store.js";

export const EXIT_RUNTIME_ERROR = 1;
export const EXIT_CONFIG_ERROR = 2;

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`visit-counter: configuration error: ${err.message}\n`);
      process.exit(EXIT_CONFIG_ERROR);
    }
    throw err;
  }
}

const config = readConfig();
const logger = createLogger(config.logLevel);

/** Exits once the log lines so far are on stdout, whole and in order (drainLogger). */
function exitAfterLogs(code: number, timeoutMs?: number): void {
  void drainLogger(logger, timeoutMs).finally(() => process.exit(code));
}

process.on("uncaughtException", (err) => {
  logger.fatal({ err }, "uncaught exception; exiting");
  exitAfterLogs(EXIT_RUNTIME_ERROR);
});
process.on("unhandledRejection", (err) => {
  logger.fatal({ err }, "unhandled rejection; exiting");
  exitAfterLogs(EXIT_RUNTIME_ERROR);
});

let store: VisitStore;
if (config.redisUrl === undefined) {
  logger.warn(
    "REDIS_URL is not set: counting in memory. Counts reset on restart and are not shared " +
      "between instances; set REDIS_URL=redis://host:6379 for production.",
  );
  store = new MemoryVisitStore();
} else {
  store = connectRedisStore({
    url: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    logger,
  });
}

const readiness = new Readiness();
const app = createApp({
  store,
  logger,
  metrics: createMetrics(),
  readiness,
  build: config.build,
  readinessTimeoutMs: config.readinessTimeoutMs,
  bodyLimitBytes: config.bodyLimitBytes,
  trustProxy: config.trustProxy,
});

const server = app.listen(config.port, config.host, () => {
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port, build: config.build }, `listening on http://${address}:${port}`);
});
server.on("error", (err) => {
  logger.fatal({ err }, `cannot listen on ${config.host}:${config.port}`);
  exitAfterLogs(EXIT_RUNTIME_ERROR);
});

let shuttingDown = false;
function onSignal(signal: NodeJS.Signals): void {
  if (shuttingDown) {
    logger.warn({ signal }, "already shutting down");
    return;
  }
  shuttingDown = true;
  logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "shutdown requested");
  const deadline = setTimeout(() => {
    logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown timed out; forcing exit");
    exitAfterLogs(EXIT_RUNTIME_ERROR, 200);
  }, config.shutdownTimeoutMs);
  deadline.unref();
  gracefulShutdown({ server, store, readiness, logger, delayMs: config.shutdownDelayMs }).then(
    () => {
      clearTimeout(deadline);
      exitAfterLogs(0);
    },
    (err: unknown) => {
      clearTimeout(deadline);
      logger.error({ err }, "shutdown failed");
      exitAfterLogs(EXIT_RUNTIME_ERROR);
    },
  );
}
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);
