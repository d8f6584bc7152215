/**
 * Whether this instance should receive traffic. Draining is one-way: once a
 * shutdown starts, /readyz answers 503 until the process exits.
 */
export class Readiness {
  #draining = false;

  get draining(): boolean {
    return this.#draining;
  }

  startDraining(): void {
    this.#draining = true;
  }
}
