// A coalescing work queue of keys: a key waiting is queued once however often it is added, a key never
// runs twice at the same time (added while running, it runs again afterwards), up to `concurrency`
// different keys run at once, in the order they were first added.
export class KeyedQueue {
  #waiting = new Set<string>();
  #running = new Set<string>();
  #concurrency: number;
  #worker: (key: string) => Promise<void>;
  #idle: Array<() => void> = [];

  constructor(concurrency: number, worker: (key: string) => Promise<void>) {
    this.#concurrency = concurrency;
    this.#worker = worker;
  }

  add(key: string): void {
    this.#waiting.add(key);
    this.#pump();
  }

  /** Drops every waiting key (running ones finish). */
  clear(): void {
    this.#waiting.clear();
  }

  get size(): number {
    return this.#waiting.size + this.#running.size;
  }

  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void> {
    return this.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    for (const key of this.#waiting) {
      if (this.#running.size >= this.#concurrency) break;
      if (this.#running.has(key)) continue;
      this.#waiting.delete(key);
      this.#running.add(key);
      void this.#worker(key).finally(() => {
        this.#running.delete(key);
        this.#pump();
        if (this.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
    }
  }
}
