// Per-key exponential backoff for controller retries: a key that keeps failing waits longer each
// time (base, 2×base, 4×base, … up to the cap), so one broken object does not hammer the apiserver
// or a daemon, while a key that succeeds again starts over at the base. Pure: the caller schedules.

export interface BackoffOptions {
  /** first delay (default 1000 ms) */
  baseMs?: number;
  /** upper bound of every delay (default 60 000 ms) */
  capMs?: number;
  /** 0 (default) gives exact delays; 0.2 shortens each delay by up to 20 % at random, so many keys
   * that failed together do not retry in lockstep. The cap stays an upper bound. */
  jitter?: number;
  /** source of randomness for jitter, [0, 1) (default Math.random) */
  random?: () => number;
}

export class Backoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  /** consecutive failures per key; a key is absent once it was reset */
  readonly #failures = new Map<string, number>();

  constructor(opts: BackoffOptions = {}) {
    this.#baseMs = opts.baseMs ?? 1000;
    this.#capMs = opts.capMs ?? 60_000;
    this.#jitter = opts.jitter ?? 0;
    this.#random = opts.random ?? Math.random;
    if (!(this.#baseMs > 0) || !(this.#capMs >= this.#baseMs))
      throw new Error(`Backoff needs 0 < baseMs <= capMs (got baseMs ${this.#baseMs}, capMs ${this.#capMs})`);
    if (!(this.#jitter >= 0 && this.#jitter < 1))
      throw new Error(`Backoff jitter must be in [0, 1) (got ${this.#jitter})`);
  }

  /** Records one more failure of key and returns how long to wait (ms) before retrying it. */
  next(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    const delay = Math.min(this.#capMs, this.#baseMs * 2 ** failures);
    // stop counting once the cap is reached: the delay no longer grows and 2 ** n cannot overflow
    this.#failures.set(key, delay < this.#capMs ? failures + 1 : failures);
    return this.#jitter ? delay * (1 - this.#jitter * this.#random()) : delay;
  }

  /** Forgets key's failures (after a success, or when the key is gone): its next delay is the base. */
  reset(key: string): void {
    this.#failures.delete(key);
  }

  /** Number of keys with failures on record (keys that were reset are not kept). */
  get size(): number {
    return this.#failures.size;
  }
}
