// Concurrency for the benches' bulk writes (thousands of Services against one apiserver).
import { setTimeout as sleep } from 'node:timers/promises';

/** Calls fn until it succeeds, up to 5 attempts, backing off 1 s more each time, while `retryable`
 * says the error is worth another try. */
export async function withRetries<T>(fn: () => Promise<T>, retryable: (err: unknown) => boolean): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!retryable(err) || attempt >= 5) throw err;
      await sleep(1000 * attempt);
    }
  }
}

/** An overloaded apiserver's answer: 504 or 429. */
export const overloaded = (err: unknown) => [504, 429].includes((err as { code?: number }).code ?? 0);

/** Runs fn for 0..n-1 with at most `limit` in flight; an overloaded apiserver's 504 or 429 is retried,
 * anything else fails the run. */
export async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) {
        const i = next++;
        await withRetries(() => fn(i), overloaded);
      }
    }),
  );
}
