import type { VisitCounts, VisitStore } from "./visit-store.js";

/**
 * The embedded store for local runs and tests. Counts live in this process
 * only, so they reset on restart and are not shared between replicas.
 */
export class MemoryVisitStore implements VisitStore {
  #visits = 0;
  readonly #visitors = new Set<string>();

  recordVisit(visitorId: string): Promise<VisitCounts> {
    this.#visits += 1;
    this.#visitors.add(visitorId);
    return this.read();
  }

  read(): Promise<VisitCounts> {
    return Promise.resolve({ visits: this.#visits, uniqueVisitors: this.#visitors.size });
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
