export interface VisitCounts {
  visits: number;
  uniqueVisitors: number;
}

/** Where visits are counted. Implementations must answer or fail in bounded time. */
export interface VisitStore {
  /** Counts one visit by `visitorId` and returns the counts that include it. */
  recordVisit(visitorId: string): Promise<VisitCounts>;
  read(): Promise<VisitCounts>;
  /** Resolves when the store can serve requests; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The backing store cannot answer right now; callers answer 503 and try again later. */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
}
