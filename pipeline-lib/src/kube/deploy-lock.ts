import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type * as k8s from "@kubernetes/client-node";
import { StageError } from "../errors.js";
import { systemClock, type Clock, type Reporter } from "../output/reporter.js";
import { KubeApiError } from "./kube-api-error.js";
import { KubeJsonClient } from "./kube-json-client.js";

/** The Lease, in the namespace deployed to, that only one pipeline holds at a time. */
export const DEPLOY_LOCK_NAME = "pipeline-deploy-lock";
/** A waiting line is repeated this often while the holder stays the same. */
const REPEAT_MS = 10_000;

export interface AcquireDeployLockOptions {
  namespace: string;
  /** Who is asking, for the other pipelines' messages: see deployLockHolder(). */
  holder: string;
  /** How long the lease lasts without renewal; renewed every third of it. */
  leaseSeconds?: number;
  /** How long to wait for another holder before giving up with LockHeld. */
  waitMs: number;
  reporter: Reporter;
  signal?: AbortSignal;
  clock?: Clock;
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
  /** Throws the LockLost when the lease was lost. */
  assertHeld(): void;
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
  ) {
    super(
      `another deploy to namespace ${namespace} is running: the deploy lock ` +
        `(Lease ${namespace}/${DEPLOY_LOCK_NAME}) is held by ${holder}` +
        `${since ? ` since ${since}` : ""}; gave up after waiting ${Math.round(waitedMs / 1000)}s. ` +
        `Retry when it has finished (a crashed holder's lock expires once it stops renewing it)`,
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
 * two pipelines never deploy to one namespace at once. A free lock is taken at
 * once; one whose holder stopped renewing it (renewTime + leaseDurationSeconds
 * has passed; clocks are assumed to agree within seconds) is taken over, and
 * the reporter says so; otherwise we wait up to `waitMs`, saying who holds it,
 * then fail with LockHeld. Every write carries the resourceVersion it read, so
 * two pipelines racing for a free lock cannot both win.
 */
export async function acquireDeployLock(
  kubeConfig: k8s.KubeConfig,
  options: AcquireDeployLockOptions,
): Promise<DeployLock> {
  const { namespace, holder, waitMs, reporter, signal } = options;
  const { leaseSeconds = 30, pollMs = 2000, clock = systemClock } = options;
  const client = KubeJsonClient.forConfig(kubeConfig);
  const path = leasePath(namespace);
  const started = clock.now();
  let announced: { holder: string; at: number } | undefined;

  for (;;) {
    try {
      signal?.throwIfAborted();
      const now = clock.now();
      const current = await client.request<Lease>("GET", path, { signal }).catch(notFound);
      const spec = current?.spec ?? {};
      const fresh: Lease["spec"] = {
        holderIdentity: holder,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (current ? 1 : 0),
      };
      if (!current) {
        const created = await client.request<Lease>("POST", leasePath(namespace, ""), {
          body: { ...leaseObject(namespace), spec: fresh },
          signal,
        });
        return new HeldDeployLock(client, created, options, clock);
      }
      const other = spec.holderIdentity;
      if (!other || isExpired(spec, now)) {
        if (other) {
          reporter.warn(
            `taking over the stale deploy lock of namespace ${namespace}: ${other} took it ` +
              `${spec.acquireTime ? `at ${spec.acquireTime} ` : ""}and last renewed it ` +
              `${spec.renewTime ?? "never"}, more than its ${spec.leaseDurationSeconds ?? 0}s lease ago`,
          );
        }
        const taken = await client.request<Lease>("PUT", path, {
          body: { ...current, spec: fresh },
          signal,
        });
        return new HeldDeployLock(client, taken, options, clock);
      }
      const waited = now - started;
      if (waited >= waitMs) throw new LockHeld(namespace, other, spec.acquireTime, waited);
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

class HeldDeployLock implements DeployLock {
  readonly namespace: string;
  readonly holder: string;
  readonly #lost = new AbortController();
  readonly #stop = new AbortController();
  readonly #renewing: Promise<void>;
  #lease: Lease;
  #renewedAt: number;
  #released = false;

  constructor(
    private readonly client: KubeJsonClient,
    lease: Lease,
    private readonly options: AcquireDeployLockOptions,
    private readonly clock: Clock,
  ) {
    this.namespace = options.namespace;
    this.holder = options.holder;
    this.#lease = lease;
    this.#renewedAt = clock.now();
    this.#renewing = this.#renewLoop();
  }

  get lost(): AbortSignal {
    return this.#lost.signal;
  }

  assertHeld(): void {
    this.#lost.signal.throwIfAborted();
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#stop.abort();
    await this.#renewing;
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
          `could not release the deploy lock of namespace ${this.namespace}: ` +
            `${error instanceof Error ? error.message : String(error)}`,
        );
      });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  async #renewLoop(): Promise<void> {
    const leaseMs = (this.options.leaseSeconds ?? 30) * 1000;
    for (;;) {
      try {
        // ref: false: a lock someone forgot to release does not keep the process alive.
        await sleep(leaseMs / 3, undefined, { signal: this.#stop.signal, ref: false });
      } catch {
        return;
      }
      const failure = await this.#renew(leaseMs);
      if (failure) {
        this.#lost.abort(failure);
        return;
      }
    }
  }

  /** Renews the lease; returns a LockLost when it is gone for good. */
  async #renew(leaseMs: number): Promise<LockLost | undefined> {
    const now = this.clock.now();
    const path = leasePath(this.namespace);
    try {
      this.#lease = await this.client.request<Lease>("PUT", path, {
        body: { ...this.#lease, spec: { ...this.#lease.spec, renewTime: microTime(now) } },
        signal: this.#stop.signal,
      });
      this.#renewedAt = now;
      return undefined;
    } catch (error) {
      if (this.#stop.signal.aborted) return undefined;
      if (error instanceof KubeApiError && error.code === 404) {
        return new LockLost(
          this.namespace,
          `Lease ${this.namespace}/${DEPLOY_LOCK_NAME} was deleted`,
        );
      }
      if (error instanceof KubeApiError && error.code === 409) {
        const latest = await this.client.request<Lease>("GET", path).catch(() => undefined);
        const holder = latest?.spec?.holderIdentity;
        if (latest && holder === this.holder) {
          this.#lease = latest;
          return undefined;
        }
        return new LockLost(this.namespace, `${holder ?? "someone else"} holds it now`);
      }
      if (now - this.#renewedAt >= leaseMs) {
        return new LockLost(
          this.namespace,
          `could not renew it for ${Math.round((now - this.#renewedAt) / 1000)}s, so another ` +
            `pipeline may have taken it over`,
          { cause: error },
        );
      }
      this.options.reporter.warn(
        `renewing the deploy lock of namespace ${this.namespace} failed, retrying: ` +
          `${error instanceof Error ? error.message : String(error)}`,
      );
      return undefined;
    }
  }
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

function isExpired(spec: NonNullable<Lease["spec"]>, now: number): boolean {
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? "");
  if (Number.isNaN(renewed)) return true;
  return renewed + (spec.leaseDurationSeconds ?? 0) * 1000 < now;
}

/** A Lease's times are MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function notFound(error: unknown): undefined {
  if (error instanceof KubeApiError && error.code === 404) return undefined;
  throw error;
}
