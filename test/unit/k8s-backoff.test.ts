import { describe, expect, test } from '@jest/globals';
import { Backoff } from '../../src/k8s/backoff.ts';

describe('Backoff', () => {
  test('doubles from the base up to the cap, then stays at the cap', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000 });
    expect([1, 2, 3, 4, 5, 6, 7].map(() => b.next('a'))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  test('defaults: 1 s base, 60 s cap, no jitter', () => {
    const b = new Backoff();
    const delays = Array.from({ length: 10 }, () => b.next('k'));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
  });

  test('keys back off independently', () => {
    const b = new Backoff({ baseMs: 10, capMs: 1000 });
    b.next('a');
    b.next('a');
    expect(b.next('a')).toBe(40);
    expect(b.next('b')).toBe(10);
  });

  test('reset starts a key over at the base and forgets it', () => {
    const b = new Backoff({ baseMs: 10, capMs: 1000 });
    b.next('a');
    b.next('a');
    b.next('b');
    b.reset('a');
    expect(b.size).toBe(1);
    expect(b.next('a')).toBe(10);
    b.reset('never-failed');
    expect(b.size).toBe(2);
  });

  test('a key that fails forever stays at the cap (no overflow to Infinity)', () => {
    const b = new Backoff({ baseMs: 1, capMs: 5000 });
    let last = 0;
    for (let i = 0; i < 5000; i++) last = b.next('x');
    expect(last).toBe(5000);
  });

  test('jitter shortens a delay by at most its fraction and never exceeds the cap', () => {
    const lowest = new Backoff({ baseMs: 100, capMs: 400, jitter: 0.5, random: () => 0.999999 });
    const highest = new Backoff({ baseMs: 100, capMs: 400, jitter: 0.5, random: () => 0 });
    expect(lowest.next('k')).toBeCloseTo(50, 3);
    expect(highest.next('k')).toBe(100);
    for (let i = 0; i < 5; i++) expect(highest.next('k')).toBeLessThanOrEqual(400);
  });

  test.each([
    [{ baseMs: 0 }, /0 < baseMs <= capMs/],
    [{ baseMs: 100, capMs: 50 }, /0 < baseMs <= capMs/],
    [{ jitter: 1 }, /jitter must be in \[0, 1\)/],
    [{ jitter: -0.1 }, /jitter must be in \[0, 1\)/],
  ])('rejects bad options %j', (opts, message) => {
    expect(() => new Backoff(opts)).toThrow(message);
  });
});
