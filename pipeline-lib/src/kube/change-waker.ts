import * as k8s from "@kubernetes/client-node";

/**
 * Ends a polling loop's sleep as soon as one object changes, as
 * `kubectl rollout status` sees a rollout complete: a watch on the object
 * (by name, through the API server) wakes `sleep` at its next event. Polling
 * stays the guarantee. A watch that is refused (a role without `watch`),
 * drops or times out only stops the early wake-ups; one that had worked is
 * opened again.
 */
export class ChangeWaker implements Disposable {
  #changed = false;
  #wake: (() => void) | undefined;
  #controller: AbortController | undefined;
  #disposed = false;

  private constructor(
    private readonly watch: k8s.Watch,
    private readonly path: string,
    private readonly name: string,
  ) {}

  /** Watches the object `name` of the collection at `path` (`/apis/apps/v1/namespaces/test/deployments`). */
  static start(kubeConfig: k8s.KubeConfig, path: string, name: string): ChangeWaker {
    const waker = new ChangeWaker(new k8s.Watch(kubeConfig), path, name);
    waker.#open();
    return waker;
  }

  /**
   * Resolves with "changed" at once when the object changed since the last
   * sleep, or at its next change; else with "elapsed" after `ms`.
   */
  async sleep(ms: number, signal?: AbortSignal): Promise<"changed" | "elapsed"> {
    signal?.throwIfAborted();
    if (this.#changed) {
      this.#changed = false;
      return "changed";
    }
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", aborted);
        this.#wake = undefined;
        this.#changed = false;
      };
      const aborted = () => {
        done();
        reject(signal!.reason as Error);
      };
      const timer = setTimeout(() => {
        done();
        resolve("elapsed");
      }, ms);
      signal?.addEventListener("abort", aborted, { once: true });
      this.#wake = () => {
        done();
        resolve("changed");
      };
    });
  }

  [Symbol.dispose](): void {
    this.#disposed = true;
    this.#controller?.abort();
  }

  #open(): void {
    let events = 0;
    this.watch
      .watch(
        this.path,
        { fieldSelector: `metadata.name=${this.name}` },
        () => {
          events++;
          this.#changed = true;
          this.#wake?.();
        },
        () => {
          if (!this.#disposed && events > 0) this.#open();
        },
      )
      .then(
        (controller) => {
          this.#controller = controller;
          if (this.#disposed) controller.abort();
        },
        () => undefined, // no cluster in the kubeconfig: polling alone
      );
  }
}
