import { describe, expect, test } from '@jest/globals';
import { CoalescingQueue } from '../../src/agent/coalescing-queue.ts';

const tick = () => new Promise((r) => setImmediate(r));

/** A queue whose work only records its batches and finishes when the test releases it. */
function recording(concurrency: number, batchSize?: number) {
  const batches: Array<Array<[string, number]>> = [];
  const release: Array<() => void> = [];
  const errors: unknown[] = [];
  const q = new CoalescingQueue<number>({
    concurrency,
    ...(batchSize ? { batchSize } : {}),
    work: (batch) => {
      batches.push(batch);
      return new Promise<void>((resolve) => release.push(resolve));
    },
    onError: (err) => errors.push(err),
  });
  const releaseAll = async () => {
    await tick();
    while (release.length) {
      for (const r of release.splice(0)) r();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { q, batches, errors, releaseAll };
}

describe('CoalescingQueue', () => {
  test('a key put again while it waits keeps one entry, with the newest value, in its first place', async () => {
    const { q, batches, releaseAll } = recording(1);
    q.put('a', 1); // starts at once
    q.put('b', 1);
    q.put('c', 1);
    q.put('b', 2);
    q.put('b', 3);
    expect(q.size).toBe(2);
    await tick();
    await releaseAll();
    await q.onIdle();
    expect(batches).toEqual([[['a', 1]], [['b', 3]], [['c', 1]]]);
  });

  test('10,000 puts wait as entries while at most `concurrency` batches run; the first start at once', async () => {
    const { q, batches, releaseAll } = recording(2, 1000);
    for (let i = 0; i < 10_000; i++) q.put(`k${i}`, i);
    await tick();
    expect(batches.map((b) => b.length)).toEqual([1, 1]);
    expect(q.size).toBe(9998);
    await releaseAll();
    await q.onIdle();
    expect(batches.map((b) => b.length)).toEqual([1, 1, ...Array(9).fill(1000), 998]);
    expect(batches.flat().map(([k]) => k)).toEqual(Array.from({ length: 10_000 }, (_, i) => `k${i}`));
  });

  test('a key put while its batch runs is done again afterwards', async () => {
    const { q, batches, releaseAll } = recording(1);
    q.put('a', 1);
    await tick();
    q.put('a', 2);
    await releaseAll();
    await q.onIdle();
    expect(batches).toEqual([[['a', 1]], [['a', 2]]]);
  });

  test('a failed batch is reported and the queue goes on', async () => {
    const errors: unknown[] = [];
    const done: string[] = [];
    const q = new CoalescingQueue<number>({
      concurrency: 1,
      work: async (batch) => {
        if (batch.some(([key]) => key === 'bad')) throw new Error('refused');
        done.push(...batch.map(([key]) => key));
      },
      onError: (err, batch) => errors.push([(err as Error).message, batch]),
    });
    q.put('bad', 1);
    q.put('good', 1);
    await q.onIdle();
    expect(errors).toEqual([['refused', [['bad', 1]]]]);
    expect(done).toEqual(['good']);
  });

  test('clear drops what waits; onIdle resolves at once on an empty queue', async () => {
    const { q, batches, releaseAll } = recording(1);
    await q.onIdle();
    q.put('a', 1);
    q.put('b', 1);
    q.clear();
    expect(q.size).toBe(0);
    await releaseAll();
    await q.onIdle();
    expect(batches).toEqual([[['a', 1]]]);
  });
});
