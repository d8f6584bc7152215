/**
 * When a waiting pipeline may take over a Lease that someone else holds:
 * client-go's leader-election rule (tools/leaderelection/leaderelection.go).
 *
 * The holder's timestamps come from the holder's clock, which may be minutes
 * off ours, so they are never compared with our clock. They are only compared
 * with what we read before: each time the record differs from the one we last
 * read, we note when, on our own monotonic clock. The holder is alive as long
 * as its record keeps changing; once it has not changed for a whole lease
 * duration as we observed it, the holder stopped renewing and the lease may be
 * taken over. A process that first reads a lease therefore waits at least one
 * lease duration before taking it over, whatever its renewTime says.
 */

/** The part of a Lease's spec that a holder writes; any change in it is a sign of life. */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** What this process last read of a Lease, and since when (its own monotonic clock, ms). */
export interface LeaseObservation {
  readonly record: LeaseRecord;
  /** The record in canonical form, to compare readings. */
  readonly key: string;
  /** When this process first read the record in this form, on its monotonic clock. */
  readonly at: number;
}

/**
 * The observation after reading `record` at `now`: the previous one when the
 * record did not change, so the time it was first seen stays; else a new one
 * starting now.
 */
export function observeLease(
  previous: LeaseObservation | undefined,
  record: LeaseRecord,
  now: number,
): LeaseObservation {
  const key = recordKey(record);
  if (previous && previous.key === key) return previous;
  return { record: { ...record }, key, at: now };
}

/**
 * How long the holder promised to renew within: the record's
 * leaseDurationSeconds (as newer client-go uses), else `fallbackMs` (ours).
 */
export function leaseDurationMs(record: LeaseRecord, fallbackMs: number): number {
  const seconds = record.leaseDurationSeconds;
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0
    ? seconds * 1000
    : fallbackMs;
}

/** How long the record has gone unchanged as this process observed it. */
export function unchangedForMs(observation: LeaseObservation, now: number): number {
  return Math.max(0, now - observation.at);
}

/**
 * Whether the observed lease may be taken over at `now` (same monotonic clock
 * as the observation): at once when nobody holds it, else only once its record
 * has not changed for longer than its lease duration as this process observed
 * it (`observedTime + leaseDuration < now`).
 */
export function mayTakeOver(
  observation: LeaseObservation,
  now: number,
  fallbackDurationMs: number,
): boolean {
  if (!observation.record.holderIdentity) return true;
  return observation.at + leaseDurationMs(observation.record, fallbackDurationMs) < now;
}

function recordKey(record: LeaseRecord): string {
  return JSON.stringify([
    record.holderIdentity ?? "",
    record.leaseDurationSeconds ?? null,
    record.acquireTime ?? "",
    record.renewTime ?? "",
    record.leaseTransitions ?? null,
  ]);
}
