// The one eligibility rule (src/model/eligibility.ts) that election candidates, the NoEligibleNode
// report and `purelb status` share.
import { describe, expect, test } from '@jest/globals';
import { parseIP } from '../../src/api/ip.ts';
import {
  announceBlocker,
  describeIneligible,
  eligibleNodes,
  endpointNodesOf,
  ineligibility,
  noEligibleNode,
  reloadRejected,
} from '../../src/model/eligibility.ts';
import { isLive, parseHeartbeat, type Heartbeat } from '../../src/model/heartbeat.ts';
import { hb } from './fakes/heartbeat.ts';

const LAN = '192.168.1.0/24';
const local = (ip: string, more = {}) => ({ address: parseIP(ip)!, local: true, ...more });
const virtual = (ip: string, more = {}) => ({ address: parseIP(ip)!, local: false, ...more });

describe('candidates for a local address', () => {
  const beats = [
    hb('a', [LAN]),
    hb('b', [LAN, 'fd00::/64']),
    hb('c', ['10.0.0.0/8']),
    hb('d', [LAN], { expiresAt: 500 }),
  ];
  test('only live nodes whose subnets contain the address', () => {
    expect(eligibleNodes(beats, local('192.168.1.9'), 1000)).toEqual(['a', 'b']);
    expect(eligibleNodes(beats, local('fd00::9'), 1000)).toEqual(['b']);
    expect(eligibleNodes(beats, local('192.168.1.9'), 100)).toEqual(['a', 'b', 'd']);
  });
  test('ETP Local: only nodes with endpoints', () => {
    expect(eligibleNodes(beats, local('192.168.1.9', { endpointNodes: new Set(['b', 'c']) }), 1000)).toEqual(['b']);
    expect(eligibleNodes(beats, local('192.168.1.9', { endpointNodes: new Set() }), 1000)).toEqual([]);
  });
});

describe('the reason per node', () => {
  const zoneA = [{ matchLabels: { zone: 'a' }, matchExpressions: [] }];
  test('checked in a fixed order: excluded, fenced, not selected, no endpoint, not on the subnet', () => {
    const scope = local('192.168.1.9', { nodeSelectors: zoneA, endpointNodes: new Set(['ok', 'sub']) });
    const cases: [Heartbeat, string | undefined][] = [
      [hb('x', ['10.0.0.0/8'], { outOfService: 'it is cordoned', expiresAt: 0 }), 'excluded'],
      [hb('f', ['10.0.0.0/8'], { expiresAt: 0 }), 'fenced'],
      [hb('s', [LAN], { labels: { zone: 'b' } }), 'not selected'],
      [hb('e', [LAN], { labels: { zone: 'a' } }), 'no endpoint'],
      [hb('sub', ['10.0.0.0/8'], { labels: { zone: 'a' } }), 'not on the subnet'],
      [hb('ok', [LAN], { labels: { zone: 'a' } }), undefined],
    ];
    for (const [h, why] of cases) expect([h.node, ineligibility(h, scope, 1000)]).toEqual([h.node, why]);
  });
  test('a virtual address needs no node on its subnet', () => {
    expect(ineligibility(hb('n', ['10.0.0.0/8']), virtual('192.168.10.1'), 1000)).toBeUndefined();
  });
  test('a marked Lease is never live, even while fresh', () => {
    expect(isLive(hb('x', [LAN], { outOfService: 'cordoned' }), 1000)).toBe(false);
    expect(isLive(hb('x', [LAN]), 1000)).toBe(true);
  });
  test('the out-of-service mark is read from the Lease annotation', () => {
    const lease = {
      metadata: { name: 'purelb-node-n1', annotations: { 'purelb.io/out-of-service': 'it is cordoned' } },
      spec: { holderIdentity: 'n1', renewTime: new Date(5000), leaseDurationSeconds: 2 },
    };
    expect(parseHeartbeat(lease)?.outOfService).toBe('it is cordoned');
  });
});

describe('no eligible node', () => {
  test('undefined as soon as one node may announce; else every reason, sorted by node', () => {
    const scope = virtual('192.168.10.1', { endpointNodes: new Set(['b']) });
    expect(noEligibleNode([hb('a', []), hb('b', [])], scope, 1000)).toBeUndefined();
    expect(noEligibleNode([hb('c', [], { expiresAt: 0 }), hb('a', [])], scope, 1000)).toEqual(
      new Map([
        ['a', 'no endpoint'],
        ['c', 'fenced'],
      ]),
    );
  });
  test('routing rejected (virtual only): named for an eligible node, never for an ineligible one; one fine node is enough', () => {
    const rejected = { routingRejected: 'RouterConfig purelb/default: Rejected' };
    const beats = [hb('b', [LAN], rejected), hb('a', [LAN], { ...rejected, expiresAt: 0 })];
    expect(noEligibleNode(beats, virtual('10.9.0.1'), 1000)).toEqual(
      new Map([
        ['a', 'fenced'],
        ['b', 'routing rejected'],
      ]),
    );
    expect(noEligibleNode([...beats, hb('c', [])], virtual('10.9.0.1'), 1000)).toBeUndefined();
    // a local address is announced by the agent itself (ARP/NA), not by routing
    expect(noEligibleNode(beats, local('192.168.1.9'), 1000)).toBeUndefined();
    // not an election rule: the node still carries the virtual address (its daemon keeps the previous config)
    expect(eligibleNodes(beats, virtual('10.9.0.1'), 1000)).toEqual(['b']);
    expect(announceBlocker(beats[0]!, virtual('10.9.0.1'), 1000, false)).toBeUndefined();
  });
  test('the routing-rejected mark is read from the Lease annotation', () => {
    const lease = (annotations: Record<string, string>) => ({
      metadata: { name: 'purelb-node-n1', annotations },
      spec: { holderIdentity: 'n1', renewTime: new Date(5000), leaseDurationSeconds: 2 },
    });
    const why = 'RouterConfig purelb/default: Failed';
    expect(parseHeartbeat(lease({ 'purelb.io/routing-rejected': why }))?.routingRejected).toBe(why);
    expect(parseHeartbeat(lease({}))).not.toHaveProperty('routingRejected');
  });
  test('only Rejected and Failed reloads count as rejected', () => {
    expect(['Applied', 'Unchanged', 'Rejected', 'Failed', undefined].filter(reloadRejected)).toEqual([
      'Rejected',
      'Failed',
    ]);
  });
  test('a shared address: any ETP Cluster user opens it to every node, else the union of endpoint nodes', () => {
    const endpoints = new Map([
      ['ns/a', new Set(['n1'])],
      ['ns/b', new Set(['n2'])],
    ]);
    const a = { key: 'ns/a', etpLocal: true };
    expect(endpointNodesOf([a, { key: 'ns/b', etpLocal: true }], endpoints)).toEqual(new Set(['n1', 'n2']));
    expect(endpointNodesOf([a, { key: 'ns/b', etpLocal: false }], endpoints)).toBeUndefined();
  });
  test('the message names at most 10 nodes and counts the rest per reason', () => {
    const reasons = new Map<string, string>();
    for (let i = 0; i < 1000; i++) reasons.set(`n${String(i).padStart(4, '0')}`, i % 100 === 7 ? 'fenced' : 'excluded');
    const text = describeIneligible(reasons);
    expect(text).toBe(
      'n0000 (excluded), n0001 (excluded), n0002 (excluded), n0003 (excluded), n0004 (excluded), n0005 (excluded),' +
        ' n0006 (excluded), n0007 (fenced), n0008 (excluded), n0009 (excluded) and 990 more: 981 excluded, 9 fenced',
    );
    expect(describeIneligible(new Map())).toBe('no node has a heartbeat Lease (no agent runs)');
  });
});
