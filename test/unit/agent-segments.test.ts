// Segments scope the heartbeat Leases an agent watches (issue 11): the label of a subnet's segment, the
// labels the heartbeat writes, the per-segment watches and their union, and the hold-back of addresses
// on a subnet whose Leases are not listed yet.
import { describe, expect, test } from '@jest/globals';
import type { V1Lease } from '@kubernetes/client-node';
import type { AddressDecision } from '../../src/agent/desired.ts';
import { holdBackPendingSegments } from '../../src/agent/pending-segments.ts';
import { segmentLeases, type LeaseChange } from '../../src/agent/segment-leases.ts';
import { heartbeatLabels, segmentLabel, segmentSelector } from '../../src/model/heartbeat.ts';
import { MemoryCache } from './fakes/memory-cache.ts';

describe('segment label of a subnet', () => {
  test('one key per subnet, whatever host address or spelling; a valid label name', () => {
    const key = segmentLabel('192.168.1.0/24')!;
    expect(key).toMatch(/^segment\.purelb\.io\/[0-9a-f]{16}$/);
    expect(segmentLabel('192.168.1.77/24')).toBe(key);
    expect(segmentLabel('192.168.0.0/23')).not.toBe(key);
    expect(segmentLabel('192.168.2.0/24')).not.toBe(key);
    expect(segmentLabel('fd00:77:0:0::/64')).toBe(segmentLabel('FD00:77::1/64'));
    expect(segmentLabel('fd00:77::/64')).not.toBe(segmentLabel('fd00:78::/64'));
    expect(segmentLabel('bogus')).toBeUndefined();
    expect(segmentSelector('192.168.1.9/24')).toBe(`purelb.io/heartbeat=node,${key}`);
    expect(() => segmentSelector('192.168.1.9')).toThrow('"192.168.1.9" is not a subnet');
  });

  test("the Lease's labels: the heartbeat label, one per subnet with its family, stale segment labels removed", () => {
    const v4 = segmentLabel('192.168.1.0/24')!;
    const v6 = segmentLabel('fd00:77::/64')!;
    const old = segmentLabel('10.0.0.0/24')!;
    expect(heartbeatLabels(['192.168.1.0/24', 'fd00:77::/64'])).toEqual({
      'purelb.io/heartbeat': 'node',
      [v4]: '4',
      [v6]: '6',
    });
    // a merge patch with null removes the label of the subnet the node no longer has; other labels stay untouched
    expect(
      heartbeatLabels(['192.168.1.0/24'], { 'purelb.io/heartbeat': 'node', [v4]: '4', [old]: '4', team: 'a' }),
    ).toEqual({ 'purelb.io/heartbeat': 'node', [v4]: '4', [old]: null });
    expect(heartbeatLabels([], { [v4]: '4' })).toEqual({ 'purelb.io/heartbeat': 'node', [v4]: null });
  });
});

const lease = (node: string, rv = '1'): V1Lease => ({
  metadata: { name: `purelb-node-${node}`, namespace: 'purelb', resourceVersion: rv },
  spec: { holderIdentity: node },
});

function watches() {
  const opened = new Map<string, MemoryCache<V1Lease>>();
  const view = segmentLeases((selector) => {
    const cache = new MemoryCache<V1Lease>({ listed: false });
    opened.set(selector, cache);
    return cache;
  });
  const changes: LeaseChange[] = [];
  view.onChange((_, kind) => changes.push(kind));
  const names = () =>
    view
      .list()
      .map((l) => l.metadata!.name)
      .sort();
  return { view, opened, changes, names, cache: (subnet: string) => opened.get(segmentSelector(subnet))! };
}

describe('per-segment Lease watches', () => {
  const A = '192.168.1.0/24';
  const B = 'fd00:77::/64';

  test('one watch per subnet; ready once each listed; a peer in two segments is listed once', async () => {
    const w = watches();
    let ready = false;
    const done = w.view.setSegments([A, B]).then(() => (ready = true));
    expect([...w.opened.keys()].sort()).toEqual([segmentSelector(B), segmentSelector(A)].sort());
    expect(w.view.pending()).toEqual([A, B]);
    w.cache(A).listed([lease('n1'), lease('n2')]);
    await new Promise((r) => setImmediate(r));
    expect(ready).toBe(false);
    expect(w.view.pending()).toEqual([B]);
    w.cache(B).listed([lease('n2'), lease('n3')]);
    await done;
    expect(w.view.pending()).toEqual([]);
    expect(w.names()).toEqual(['purelb-node-n1', 'purelb-node-n2', 'purelb-node-n3']);
    expect(w.changes).toEqual(['relist', 'relist']);
    // the same subnets again (another spelling of one): nothing new is opened
    await w.view.setSegments(['192.168.1.5/24', B]);
    expect(w.opened.size).toBe(2);
  });

  test("a Lease that leaves one segment stays while another segment has it; a dropped segment's Leases leave", async () => {
    const w = watches();
    const done = w.view.setSegments([A, B]);
    w.cache(A).listed([lease('n1'), lease('n2')]);
    w.cache(B).listed([lease('n2')]);
    await done;
    w.cache(A).remove(lease('n2')); // n2 no longer has subnet A: the selector's watch sends DELETED
    expect(w.names()).toEqual(['purelb-node-n1', 'purelb-node-n2']);
    expect(w.changes.at(-1)).toBe('delete');
    const a = w.cache(A);
    await w.view.setSegments([B]);
    expect(a.stopped).toBe(true);
    expect(w.names()).toEqual(['purelb-node-n2']);
    expect(w.changes.at(-1)).toBe('relist');
    const seen = w.changes.length;
    a.put(lease('n9')); // in flight when it stopped: not part of the view
    expect(w.changes.length).toBe(seen);
    expect(w.names()).toEqual(['purelb-node-n2']);
  });

  test('no subnet, no watch; a segment dropped before it listed does not hold up the call that asked for it', async () => {
    const w = watches();
    await w.view.setSegments([]);
    expect(w.opened.size).toBe(0);
    expect(w.view.list()).toEqual([]);
    const first = w.view.setSegments([A]);
    await w.view.setSegments([]);
    await first;
    expect(w.cache(A).stopped).toBe(true);
    await w.view.stop();
    await w.view.setSegments([B]); // after stop (a reconcile that outlived the agent): no watch
    expect(w.opened.size).toBe(1);
  });
});

describe('addresses on a subnet whose Leases are not listed yet', () => {
  const local = (ip: string, announce = true): AddressDecision => ({
    ip,
    family: 4,
    kind: 'local',
    ifname: 'eth0',
    prefix: 24,
    announce,
    services: ['default/web'],
    reason: '',
  });
  const virtual: AddressDecision = { ...local('10.5.0.9'), kind: 'virtual', ifname: 'kube-lb0', prefix: 32 };

  test('a new one is not taken; one already held stays; other subnets and virtual addresses are unaffected', () => {
    const decisions = [local('10.5.0.240'), local('10.5.0.241'), local('192.168.1.240'), virtual];
    const out = holdBackPendingSegments(decisions, ['10.5.0.0/24'], new Set(['eth0 10.5.0.241/24']));
    expect(out.map((d) => d.announce)).toEqual([false, true, true, true]);
    expect(out[0]!.reason).toBe('the heartbeat Leases of the segment of 10.5.0.0/24 are not listed yet');
    expect(holdBackPendingSegments(decisions, [], new Set())).toBe(decisions);
  });
});
