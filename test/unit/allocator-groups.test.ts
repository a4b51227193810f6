// Which ServiceGroup version serves, and the status written for it: invalid or overlapping updates
// keep the last valid version; established groups win overlaps; conditions keep transition times.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { groupStatus } from '../../src/allocator/group-status.ts';
import { resolveGroups, type ServedGroup } from '../../src/model/servicegroups.ts';
import { KeyedQueue } from '../../src/allocator/work-queue.ts';

const sg = (
  name: string,
  pool: string,
  subnet: string,
  generation = 1,
  uid = `uid-${name}`,
  created = '2026-01-01T00:00:00Z',
): KubernetesObject =>
  ({
    apiVersion: 'purelb.io/v1',
    kind: 'ServiceGroup',
    metadata: { name, namespace: 'purelb', uid, generation, creationTimestamp: created as unknown as Date },
    spec: { local: { v4pool: { pool, subnet } } },
  }) as KubernetesObject;

const serve = (objs: KubernetesObject[], previous = new Map<string, ServedGroup>()) => {
  const verdicts = resolveGroups(objs, previous);
  return { verdicts, served: new Map(verdicts.filter((v) => v.serving).map((v) => [v.name, v.serving!])) };
};

describe('resolveGroups', () => {
  test('an invalid update keeps the last valid version serving; other groups are unaffected', () => {
    const first = serve([sg('a', '10.0.0.1-10.0.0.9', '10.0.0.0/24'), sg('b', '10.1.0.1-10.1.0.9', '10.1.0.0/24')]);
    expect(first.verdicts.map((v) => [v.name, v.current])).toEqual([
      ['a', true],
      ['b', true],
    ]);
    const next = serve(
      [sg('a', '10.0.0.9-10.0.0.1', '10.0.0.0/24', 2), sg('b', '10.1.0.1-10.1.0.9', '10.1.0.0/24')],
      first.served,
    );
    const a = next.verdicts.find((v) => v.name === 'a')!;
    expect(a).toMatchObject({ current: false, serving: { generation: 1 } });
    expect(a.problems[0]!.message).toContain('is after its end');
    expect(next.verdicts.find((v) => v.name === 'b')).toMatchObject({ current: true, serving: { generation: 1 } });
  });

  test('an established group wins an overlap against an edited one, whatever their names and ages', () => {
    const first = serve([
      sg('a', '10.0.0.1-10.0.0.9', '10.0.0.0/24', 1, 'ua', '2026-02-01T00:00:00Z'),
      sg('z', '10.0.1.1-10.0.1.9', '10.0.0.0/16'),
    ]);
    // "a" (older name, newer creation) is edited to swallow z's range
    const next = serve(
      [
        sg('a', '10.0.0.0/16', '10.0.0.0/16', 2, 'ua', '2026-02-01T00:00:00Z'),
        sg('z', '10.0.1.1-10.0.1.9', '10.0.0.0/16'),
      ],
      first.served,
    );
    expect(next.verdicts.find((v) => v.name === 'z')).toMatchObject({ current: true });
    const a = next.verdicts.find((v) => v.name === 'a')!;
    expect(a).toMatchObject({ current: false, serving: { generation: 1 } });
    expect(a.problems[0]!.message).toContain(
      'overlaps 10.0.1.1-10.0.1.9 at spec.local.v4pool of ServiceGroup purelb/z',
    );
  });

  test('a new group overlapping an existing one is refused; a deleted group stops serving; a re-created one starts fresh', () => {
    const first = serve([sg('a', '10.0.0.1-10.0.0.9', '10.0.0.0/24')]);
    const next = serve(
      [sg('a', '10.0.0.1-10.0.0.9', '10.0.0.0/24'), sg('new', '10.0.0.5-10.0.0.6', '10.0.0.0/24')],
      first.served,
    );
    expect(next.verdicts.find((v) => v.name === 'new')).toMatchObject({ current: false, serving: undefined });
    expect(serve([], next.served).verdicts).toEqual([]);
    // same name, new uid: the old object's last valid version does not carry over
    const recreated = serve([sg('a', '10.0.0.9-10.0.0.1', '10.0.0.0/24', 1, 'other-uid')], first.served);
    expect(recreated.verdicts[0]).toMatchObject({ current: false, serving: undefined });
  });
});

describe('groupStatus', () => {
  const stats = { 4: { size: 9n, free: 7n }, 6: { size: 1n << 64n, free: (1n << 64n) - 1n } };
  const none = { outside: [], outOfScope: [] };
  test('counts per family (capped), Valid, AddressesOutsidePools and HoldersOutOfScope conditions', () => {
    const { verdicts } = serve([sg('a', '10.0.0.1-10.0.0.9', '10.0.0.0/24')]);
    const status = groupStatus(
      verdicts[0]!,
      stats,
      { outside: [{ service: 'ns/x', address: '10.0.0.200' }], outOfScope: [{ service: 'ns/y', address: '10.0.0.2' }] },
      1,
      [],
      new Date('2026-03-01T10:00:00.123Z'),
    );
    expect(status).toEqual({
      observedGeneration: 1,
      allocatedIPv4: 2,
      availableIPv4: 7,
      allocatedIPv6: 1,
      availableIPv6: Number.MAX_SAFE_INTEGER,
      conditions: [
        {
          type: 'Valid',
          status: 'True',
          reason: 'Parsed',
          message: 'serving generation 1: 1 IPv4 and 0 IPv6 pools',
          lastTransitionTime: '2026-03-01T10:00:00Z',
          observedGeneration: 1,
        },
        {
          type: 'AddressesOutsidePools',
          status: 'True',
          reason: 'AddressesOutsidePools',
          message: expect.stringContaining('ns/x 10.0.0.200'),
          lastTransitionTime: '2026-03-01T10:00:00Z',
          observedGeneration: 1,
        },
        {
          type: 'HoldersOutOfScope',
          status: 'True',
          reason: 'HoldersOutOfScope',
          message: expect.stringContaining('ns/y 10.0.0.2'),
          lastTransitionTime: '2026-03-01T10:00:00Z',
          observedGeneration: 1,
        },
      ],
    });
    // an unchanged condition status keeps its transition time
    const later = groupStatus(verdicts[0]!, stats, none, 1, status.conditions, new Date('2026-03-02T00:00:00Z'));
    expect(later.conditions!.map((c) => c.lastTransitionTime)).toEqual([
      '2026-03-01T10:00:00Z',
      '2026-03-02T00:00:00Z',
      '2026-03-02T00:00:00Z',
    ]);
  });
  test('an invalid group says what is wrong and what keeps serving', () => {
    const first = serve([sg('a', '10.0.0.1-10.0.0.9', '10.0.0.0/24')]);
    const { verdicts } = serve([sg('a', '10.0.0.1-10.0.9.9', '10.0.0.0/24', 2)], first.served);
    expect(groupStatus(verdicts[0]!, stats, none, 2).conditions![0]).toMatchObject({
      type: 'Valid',
      status: 'False',
      reason: 'ParseFailed',
      message: expect.stringMatching(
        /^ServiceGroup purelb\/a: spec\.local\.v4pool\.pool: pool 10\.0\.0\.1-10\.0\.9\.9 .* is not inside subnet .*; the last valid version \(generation 1, 1 IPv4 and 0 IPv6 pools\) keeps serving$/,
      ),
    });
  });
});

describe('KeyedQueue', () => {
  test('coalesces waiting keys, never runs one key twice at once, reruns a key added while it runs', async () => {
    const runs: string[] = [];
    let active = 0;
    let maxActive = 0;
    const gates = new Map<string, () => void>();
    const q = new KeyedQueue(2, async (key) => {
      runs.push(key);
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => gates.set(key, resolve));
      active--;
    });
    q.add('a');
    q.add('b');
    q.add('c');
    q.add('c');
    await Promise.resolve();
    expect(runs).toEqual(['a', 'b']);
    q.add('a'); // running: queued to run again
    gates.get('a')!();
    await new Promise((r) => setTimeout(r, 0));
    expect(runs).toEqual(['a', 'b', 'c']);
    gates.get('b')!();
    await new Promise((r) => setTimeout(r, 0));
    expect(runs).toEqual(['a', 'b', 'c', 'a']);
    gates.get('c')!();
    gates.get('a')!();
    await q.idle();
    expect(maxActive).toBe(2);
    expect(q.size).toBe(0);
  });
});
