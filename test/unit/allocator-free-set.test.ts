// The free-interval set against a plain model: every sequence of take/give keeps the same free
// addresses, lowest() is the model's minimum, and counts match.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { FreeSet } from '../../src/allocator/free-set.ts';

describe('FreeSet', () => {
  test('hands out a range lowest first and reuses a released address first', () => {
    const s = new FreeSet(64n, 126n);
    expect([s.lowest(), s.take(64n), s.lowest(), s.take(65n), s.lowest()]).toEqual([64n, true, 65n, true, 66n]);
    expect(s.take(65n)).toBe(false); // already used
    expect(s.take(200n)).toBe(false); // outside
    expect(s.give(64n)).toBe(true);
    expect(s.give(64n)).toBe(false); // already free
    expect(s.lowest()).toBe(64n);
    expect(s.freeCount).toBe(62n);
  });

  test('an exhausted range has no lowest address until one is given back', () => {
    const s = new FreeSet(0n, 3n);
    for (let v = 0n; v <= 3n; v++) expect(s.take(v)).toBe(true);
    expect(s.lowest()).toBeUndefined();
    expect(s.freeCount).toBe(0n);
    s.give(2n);
    expect(s.lowest()).toBe(2n);
  });

  test('works at IPv6 scale (a /64 is one interval, not 2^64 entries)', () => {
    const first = 0xfc000270015400008100000000000004n;
    const last = 0xfc00027001540000ffffffffffffffffn;
    const s = new FreeSet(first, last);
    expect(s.take(first)).toBe(true);
    expect(s.lowest()).toBe(first + 1n);
    expect(s.freeCount).toBe(last - first);
  });

  test('property: any sequence of take/give matches a model set', () => {
    const N = 40;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: N - 1 })), { maxLength: 300 }), (ops) => {
        const s = new FreeSet(0n, BigInt(N - 1));
        const used = new Set<number>();
        for (const [take, v] of ops) {
          if (take) expect(s.take(BigInt(v))).toBe(!used.has(v));
          else expect(s.give(BigInt(v))).toBe(used.has(v));
          if (take) used.add(v);
          else used.delete(v);
          const free = [...Array(N).keys()].filter((i) => !used.has(i));
          expect(s.lowest()).toBe(free.length ? BigInt(free[0]!) : undefined);
          expect(s.freeCount).toBe(BigInt(free.length));
        }
        for (let i = 0; i < N; i++) expect(s.isFree(BigInt(i))).toBe(!used.has(i));
      }),
    );
  });
});
