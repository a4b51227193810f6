// A work queue that holds at most one waiting entry per key: putting a key that already waits replaces
// its value in place. A burst of changes for 10,000 Services therefore costs 10,000 small entries, never
// 10,000 requests or processes in flight at once. Workers take the waiting entries in batches, oldest
// first, and at most `concurrency` batches run at a time.

export interface CoalescingQueueOptions<T> {
  concurrency: number;
  /** Entries per call of `work` (default 1). */
  batchSize?: number;
  /** Does the work for a batch; a rejection goes to `onError` and never stops the queue. */
  work: (batch: Array<[key: string, value: T]>) => Promise<void>;
  onError: (err: unknown, batch: Array<[key: string, value: T]>) => void;
}

export class CoalescingQueue<T> {
  readonly #o: CoalescingQueueOptions<T>;
  readonly #waiting = new Map<string, T>();
  #running = 0;
  #idle: Array<() => void> = [];

  constructor(options: CoalescingQueueOptions<T>) {
    this.#o = options;
  }

  /** Entries waiting (not the ones being worked on). */
  get size(): number {
    return this.#waiting.size;
  }

  put(key: string, value: T): void {
    this.#waiting.set(key, value);
    this.#pump();
  }

  /** Drops what waits; batches already running finish. */
  clear(): void {
    this.#waiting.clear();
  }

  /** Resolves when nothing waits or runs. */
  onIdle(): Promise<void> {
    if (this.#running === 0 && this.#waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#running < this.#o.concurrency && this.#waiting.size > 0) {
      const batch: Array<[string, T]> = [];
      for (const entry of this.#waiting) {
        batch.push(entry);
        if (batch.length >= (this.#o.batchSize ?? 1)) break;
      }
      for (const [key] of batch) this.#waiting.delete(key);
      this.#running++;
      void Promise.resolve()
        .then(() => this.#o.work(batch))
        .catch((err: unknown) => this.#o.onError(err, batch))
        .finally(() => {
          this.#running--;
          this.#pump();
          if (this.#running === 0 && this.#waiting.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }
}
