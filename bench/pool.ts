// Concurrency for the benches' bulk writes (thousands of Services against one apiserver).
import { setTimeout as sleep } from 'node:timers/promises';

/** Runs fn for 0..n-1 with at most `limit` in flight; an overloaded apiserver's 504 or 429 is retried
 * (up to 5 attempts, backing off 1 s more each time), anything else fails the run. */
export async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const retried = async (i: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(i);
      } catch (err) {
        const code = (err as { code?: number }).code;
        if ((code !== 504 && code !== 429) || attempt >= 5) throw err;
        await sleep(1000 * attempt);
      }
    }
  };
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await retried(next++);
    }),
  );
}
