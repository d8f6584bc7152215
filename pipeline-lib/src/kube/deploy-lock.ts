import os from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type * as k8s from "@kubernetes/client-node";
import { StageError } from "../errors.js";
import { systemClock, type Clock, type Reporter } from "../output/reporter.js";
import { KubeApiError } from "./kube-api-error.js";
import { KubeJsonClient } from "./kube-json-client.js";
import {
  leaseDurationMs,
  mayTakeOver,
  observeLease,
  unchangedForMs,
  type LeaseObservation,
} from "./lease-expiry.js";

/** The Lease, in the namespace deployed to, that only one pipeline holds at a time. */
export const DEPLOY_LOCK_NAME = "pipeline-deploy-lock";
/** A waiting line is repeated this often while the holder stays the same. */
const REPEAT_MS = 10_000;
/** Elapsed time: performance.now(), which never jumps with the wall clock. */
const monotonic: Clock = { now: () => performance.now() };

export interface AcquireDeployLockOptions {
  namespace: string;
  /** Who is asking, for the other pipelines' messages: see deployLockHolder(). */
  holder: string;
  /**
   * How long the lease lasts without renewal (30 by default); renewed every
   * third of it. Written into the Lease as leaseDurationSeconds; a waiting
   * pipeline goes by the holder's, and by this one only when the Lease has none.
   */
  leaseSeconds?: number;
  /**
   * How long to wait for another holder before giving up with LockHeld. A
   * holder that stopped renewing is taken over only after a whole lease
   * duration of waiting, so a wait shorter than that never takes one over.
   */
  waitMs: number;
  reporter: Reporter;
  signal?: AbortSignal;
  /** The wall clock, for the times written into the Lease. Date.now by default. */
  clock?: Clock;
  /**
   * Measures elapsed time: how long a Lease went unchanged, `waitMs`, how long
   * renewing has failed. performance.now() by default; never the wall clock,
   * which can jump.
   */
  monotonicClock?: Clock;
  /** How often to look again while someone else holds it. */
  pollMs?: number;
}

/** A held deploy lock. Release it, or `await using` it. */
export interface DeployLock extends AsyncDisposable {
  readonly namespace: string;
  readonly holder: string;
  /**
   * Aborts when the lease is lost: someone else took it over, it was deleted,
   * or it could not be renewed for a whole lease duration. Its reason is a
   * LockLost. Pass it (or AbortSignal.any with your own) to long waits.
   */
  readonly lost: AbortSignal;
  /**
   * Throws the LockLost when the lease is known to be lost (as `lost` says),
   * without asking the API server. See confirmHeld() for a fence before acting.
   */
  assertHeld(): void;
  /**
   * The fence to pass right before acting on the namespace (applying, rolling
   * back): renews the Lease now, a write that carries the resourceVersion we
   * last wrote, and so succeeds only if nobody else wrote it since. Resolves
   * when the Lease is ours and was just renewed: every other pipeline then sees
   * it change and leaves it alone for at least a whole lease duration.
   *
   * Rejects with a LockLost (a StageError, exit code 1), and aborts `lost`,
   * when the lease is lost: someone else holds it (the message names them:
   * "lost the deploy lock of namespace N: H holds it now"), it was deleted, or
   * it was lost before. Rejects with a plain StageError, leaving `lost` alone,
   * when the API server could not be asked or the lock was released. Either
   * way, do not act on the namespace.
   */
  confirmHeld(): Promise<void>;
  /** Stops renewing and deletes the Lease if it is still ours. Safe to call twice. */
  release(): Promise<void>;
}

/** Someone else kept the deploy lock for longer than we would wait. Exit code 1. */
export class LockHeld extends StageError {
  constructor(
    readonly namespace: string,
    readonly holder: string,
    readonly since: string | undefined,
    waitedMs: number,
    leaseMs?: number,
  ) {
    const lease = leaseMs ? ` ${Math.round(leaseMs / 1000)}s` : "";
    super(
      `another deploy to namespace ${namespace} is running: the deploy lock ` +
        `(Lease ${namespace}/${DEPLOY_LOCK_NAME}) is held by ${holder}` +
        `${since ? ` since ${since}` : ""}; gave up after waiting ${Math.round(waitedMs / 1000)}s. ` +
        `Retry when it has finished (a crashed holder's lock is taken over by a deploy that ` +
        `waits and sees it go unrenewed for its whole${lease} lease)`,
    );
  }
}

/** The lock went away while we held it. Exit code 1. */
export class LockLost extends StageError {
  constructor(
    readonly namespace: string,
    why: string,
    options?: ErrorOptions,
  ) {
    super(`lost the deploy lock of namespace ${namespace}: ${why}`, options);
  }
}

/** `jenkins <BUILD_URL> (user@host pid N)`, or `user@host pid N` outside Jenkins. */
export function deployLockHolder(env: NodeJS.ProcessEnv = process.env): string {
  let user = env.USER ?? env.LOGNAME;
  try {
    user ??= os.userInfo().username;
  } catch {
    user ??= "unknown";
  }
  const local = `${user}@${os.hostname()} pid ${process.pid}`;
  return env.BUILD_URL ? `jenkins ${env.BUILD_URL} (${local})` : local;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/**
 * Takes the namespace's deploy lock, a coordination.k8s.io/v1 Lease, so that
 * two pipelines never deploy to one namespace at once. A free lock (no Lease,
 * or no holderIdentity) is taken at once. A held one is taken over, and the
 * reporter says so, only when its holder stopped renewing it, which is decided
 * as client-go's leader election does (see lease-expiry.ts): by when this
 * process saw the Lease's record last change, on its own monotonic clock, and
 * never by comparing the holder's renewTime with our clock, as the two clocks
 * may disagree by minutes. So a held lock is taken over only after waiting a
 * whole lease duration without seeing it change. Otherwise we wait up to
 * `waitMs`, saying who holds it, then fail with LockHeld. Every write carries
 * the resourceVersion it read, so two pipelines racing for a free lock cannot
 * both win: the loser's 409 Conflict makes it read the Lease again.
 */
export async function acquireDeployLock(
  kubeConfig: k8s.KubeConfig,
  options: AcquireDeployLockOptions,
): Promise<DeployLock> {
  const { namespace, holder, waitMs, reporter, signal } = options;
  const { leaseSeconds = 30, pollMs = 2000, clock = systemClock } = options;
  const elapsed = options.monotonicClock ?? monotonic;
  const client = KubeJsonClient.forConfig(kubeConfig);
  const path = leasePath(namespace);
  const started = elapsed.now();
  let announced: { holder: string; at: number } | undefined;
  let observed: LeaseObservation | undefined;

  for (;;) {
    try {
      signal?.throwIfAborted();
      const current = await client.request<Lease>("GET", path, { signal }).catch(notFound);
      const now = elapsed.now();
      const spec = current?.spec ?? {};
      const wallNow = clock.now();
      const fresh: Lease["spec"] = {
        holderIdentity: holder,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: microTime(wallNow),
        renewTime: microTime(wallNow),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (current ? 1 : 0),
      };
      if (!current) {
        const created = await client.request<Lease>("POST", leasePath(namespace, ""), {
          body: { ...leaseObject(namespace), spec: fresh },
          signal,
        });
        return new HeldDeployLock(client, created, options, clock, elapsed, now);
      }
      observed = observeLease(observed, spec, now);
      const other = spec.holderIdentity;
      if (!other || mayTakeOver(observed, now, leaseSeconds * 1000)) {
        if (other) {
          reporter.warn(
            `taking over the stale deploy lock of namespace ${namespace}: ${other} took it ` +
              `${spec.acquireTime ? `at ${spec.acquireTime} ` : ""}and last renewed it ` +
              `${spec.renewTime ?? "never"} (by its clock); it has not changed for ` +
              `${Math.round(unchangedForMs(observed, now) / 1000)}s, more than its ` +
              `${Math.round(leaseDurationMs(spec, leaseSeconds * 1000) / 1000)}s lease`,
          );
        }
        const taken = await client.request<Lease>("PUT", path, {
          body: { ...current, spec: fresh },
          signal,
        });
        return new HeldDeployLock(client, taken, options, clock, elapsed, now);
      }
      const waited = now - started;
      if (waited >= waitMs) {
        throw new LockHeld(
          namespace,
          other,
          spec.acquireTime,
          waited,
          leaseDurationMs(spec, leaseSeconds * 1000),
        );
      }
      if (announced?.holder !== other || now - announced.at >= REPEAT_MS) {
        reporter.status(
          `waiting for the deploy lock of namespace ${namespace}: held by ${other}` +
            `${spec.acquireTime ? ` since ${spec.acquireTime}` : ""}; giving up in ` +
            `${Math.ceil((waitMs - waited) / 1000)}s`,
        );
        announced = { holder: other, at: now };
      }
      await sleep(Math.min(pollMs, waitMs - waited), undefined, { signal });
    } catch (error) {
      // Another pipeline wrote the Lease between our read and our write: read it again.
      if (error instanceof KubeApiError && error.code === 409) continue;
      if (signal?.aborted && !(error instanceof LockHeld)) {
        throw new StageError(`stopped waiting for the deploy lock of namespace ${namespace}`, {
          cause: signal.reason,
        });
      }
      throw error;
    }
  }
}

/** How a renewal went: renewed, lost for good, or failed in a way that may pass. */
type Renewal = { ok: true } | { ok: false; lost: LockLost } | { ok: false; failed: unknown };

class HeldDeployLock implements DeployLock {
  readonly namespace: string;
  readonly holder: string;
  readonly #lost = new AbortController();
  readonly #stop = new AbortController();
  readonly #renewing: Promise<void>;
  readonly #leaseMs: number;
  #lease: Lease;
  /** When the last renewal that succeeded was sent, on the monotonic clock. */
  #renewedAt: number;
  #released = false;
  /** Writes to the Lease, one at a time: the renewal loop's and confirmHeld's. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: KubeJsonClient,
    lease: Lease,
    private readonly options: AcquireDeployLockOptions,
    private readonly clock: Clock,
    private readonly elapsed: Clock,
    writtenAt: number,
  ) {
    this.namespace = options.namespace;
    this.holder = options.holder;
    this.#leaseMs = (options.leaseSeconds ?? 30) * 1000;
    this.#lease = lease;
    this.#renewedAt = writtenAt;
    this.#renewing = this.#renewLoop();
  }

  get lost(): AbortSignal {
    return this.#lost.signal;
  }

  assertHeld(): void {
    this.#lost.signal.throwIfAborted();
  }

  async confirmHeld(): Promise<void> {
    this.assertHeld();
    if (this.#released) {
      throw new StageError(`the deploy lock of namespace ${this.namespace} was released`);
    }
    const renewal = await this.#oneAtATime(() => {
      // Lost while waiting for the renewal loop's write: nothing to write.
      this.assertHeld();
      return this.#renew();
    });
    if (renewal.ok) return;
    if ("lost" in renewal) {
      this.#lost.abort(renewal.lost);
      throw renewal.lost;
    }
    this.assertHeld();
    throw new StageError(
      `could not confirm that this pipeline still holds the deploy lock of namespace ` +
        `${this.namespace}: ${this.#released ? "it was released" : describe(renewal.failed)}`,
      { cause: renewal.failed },
    );
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#stop.abort();
    await this.#renewing;
    await this.#writes;
    if (this.#lost.signal.aborted) return;
    await this.client
      .request("DELETE", leasePath(this.namespace), {
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          preconditions: { resourceVersion: this.#lease.metadata.resourceVersion },
        },
      })
      .catch((error: unknown) => {
        if (error instanceof KubeApiError && error.code === 404) return;
        // The lease expires by itself; the next deploy takes it over.
        this.options.reporter.warn(
          `could not release the deploy lock of namespace ${this.namespace}: ${describe(error)}`,
        );
      });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  #oneAtATime<T>(write: () => Promise<T>): Promise<T> {
    const result = this.#writes.then(write);
    this.#writes = result.catch(() => undefined);
    return result;
  }

  async #renewLoop(): Promise<void> {
    const leaseMs = this.#leaseMs;
    for (;;) {
      try {
        // ref: false: a lock someone forgot to release does not keep the process alive.
        await sleep(leaseMs / 3, undefined, { signal: this.#stop.signal, ref: false });
      } catch {
        return;
      }
      if (this.#lost.signal.aborted) return;
      const renewal = await this.#oneAtATime(() => this.#renew());
      if (this.#stop.signal.aborted || this.#lost.signal.aborted) return;
      if (renewal.ok) continue;
      if ("lost" in renewal) {
        this.#lost.abort(renewal.lost);
        return;
      }
      const since = this.elapsed.now() - this.#renewedAt;
      if (since >= leaseMs) {
        this.#lost.abort(
          new LockLost(
            this.namespace,
            `could not renew it for ${Math.round(since / 1000)}s, so another ` +
              `pipeline may have taken it over`,
            { cause: renewal.failed },
          ),
        );
        return;
      }
      this.options.reporter.warn(
        `renewing the deploy lock of namespace ${this.namespace} failed, retrying: ` +
          `${describe(renewal.failed)}`,
      );
    }
  }

  /**
   * Writes a new renewTime with the resourceVersion we last wrote. A 409
   * Conflict means someone else wrote it since: if it still names us (an
   * operator's label, say), we write again on top of it; else it is lost.
   */
  async #renew(): Promise<Renewal> {
    const path = leasePath(this.namespace);
    for (let attempt = 1; ; attempt++) {
      const sentAt = this.elapsed.now();
      try {
        const spec = { ...this.#lease.spec, renewTime: microTime(this.clock.now()) };
        this.#lease = await this.client.request<Lease>("PUT", path, {
          body: { ...this.#lease, spec },
          signal: this.#stop.signal,
          // A renewal that hangs past the lease is no renewal: give up in time to retry.
          timeoutMs: Math.max(2000, this.#leaseMs / 3),
        });
        this.#renewedAt = sentAt;
        return { ok: true };
      } catch (error) {
        if (this.#stop.signal.aborted) return { ok: false, failed: error };
        if (error instanceof KubeApiError && error.code === 404) {
          return { ok: false, lost: this.#deleted() };
        }
        if (!(error instanceof KubeApiError && error.code === 409)) {
          return { ok: false, failed: error };
        }
        let latest: Lease | undefined;
        try {
          latest = await this.client.request<Lease>("GET", path, { signal: this.#stop.signal });
        } catch (readError) {
          if (readError instanceof KubeApiError && readError.code === 404) {
            return { ok: false, lost: this.#deleted() };
          }
          return { ok: false, failed: readError };
        }
        const holder = latest.spec?.holderIdentity;
        if (holder !== this.holder) {
          return {
            ok: false,
            lost: new LockLost(this.namespace, `${holder || "someone else"} holds it now`),
          };
        }
        this.#lease = latest;
        if (attempt >= 3) return { ok: false, failed: error };
      }
    }
  }

  #deleted(): LockLost {
    return new LockLost(this.namespace, `Lease ${this.namespace}/${DEPLOY_LOCK_NAME} was deleted`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function leaseObject(namespace: string): Lease {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: DEPLOY_LOCK_NAME, namespace },
  };
}

function leasePath(namespace: string, name: string = DEPLOY_LOCK_NAME): string {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  return name ? `${base}/${name}` : base;
}

/** A Lease's times are MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function notFound(error: unknown): undefined {
  if (error instanceof KubeApiError && error.code === 404) return undefined;
  throw error;
}
