import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { VisitStore } from "../store/visit-store.js";
import type { Readiness } from "./readiness.js";

export interface ShutdownOptions {
  server: Server;
  store: VisitStore;
  readiness: Readiness;
  logger: Logger;
  /** Keep accepting requests (with /readyz at 503) this long, for load balancers to notice. */
  delayMs: number;
}

/**
 * Readiness turns 503 first, then (after the optional delay) the listener
 * stops accepting, in-flight requests finish, idle keep-alive connections
 * close, and finally the store disconnects. The caller bounds the whole
 * sequence with a timeout.
 */
export async function gracefulShutdown(options: ShutdownOptions): Promise<void> {
  const { server, store, readiness, logger } = options;
  readiness.startDraining();
  logger.info({ delayMs: options.delayMs }, "draining: readiness now answers 503");
  if (options.delayMs > 0) await sleep(options.delayMs);

  logger.info("closing the listener; waiting for in-flight requests");
  await new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // Connections that go idle after this point are closed as they go idle:
    // responses carry `Connection: close` while draining.
    server.closeIdleConnections();
  });

  await store.close();
  logger.info("store closed");
  logger.info("shutdown complete");
}
