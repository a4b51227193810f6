// Where a ServiceGroup's addresses are announced: node selectors and preferred nodes in the pure
// election (src/agent/election.ts, src/agent/desired.ts), the labels the heartbeat Lease publishes for
// them (src/model/heartbeat.ts), and the validator's refusals (src/api/validate-node-selectors.ts).
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseIP } from '../../src/api/ip.ts';
import type { ServiceGroup } from '../../src/api/types.ts';
import { parseServiceGroup } from '../../src/api/validate-servicegroup.ts';
import { formatProblem } from '../../src/api/validation.ts';
import { decideAddresses, type DesiredInputs } from '../../src/agent/desired.ts';
import { electOwner, electWinner } from '../../src/agent/election.ts';
import { formatLabels, parseHeartbeat, type Heartbeat } from '../../src/model/heartbeat.ts';
import { parseIpAddrJson } from '../../src/agent/interfaces.ts';
import { pickLabels, selectorKeys } from '../../src/model/node-selector.ts';
import { selectorMatches } from '../../src/model/label-selector.ts';
import type { ServiceInput } from '../../src/model/services.ts';

const NODES = ['n1', 'n2', 'n3', 'n4'];
const ZONES: Record<string, string> = { n1: 'a', n2: 'a', n3: 'b', n4: 'b' };
const RACK: Record<string, string> = { n1: 'r1', n2: 'r2', n3: 'r1', n4: 'r2' };
const labelsOf = (n: string) => ({
  'topology.kubernetes.io/zone': ZONES[n]!,
  rack: RACK[n]!,
  'kubernetes.io/hostname': n,
});

const sg = (spec: Partial<NonNullable<ServiceGroup['spec']>>) =>
  parseServiceGroup({
    metadata: { name: 'edge', namespace: 'purelb' },
    spec: {
      local: {
        v4pools: [
          { subnet: '192.168.1.0/24', pool: '192.168.1.200-192.168.1.250' },
          { subnet: '10.200.0.0/24', pool: '10.200.0.0/24', aggregation: '/32' },
        ],
      },
      ...spec,
    },
  });

const zoneB = [{ matchLabels: { 'topology.kubernetes.io/zone': 'b' } }];
const rackR1 = [{ matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1'] }] }];

const links = parseIpAddrJson(
  JSON.stringify([
    { ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.168.1.10', prefixlen: 24 }] },
    { ifname: 'kube-lb0', addr_info: [] },
  ]),
);

/** What each node's agent publishes in its heartbeat Lease, round-tripped through the Lease annotation. */
function published(node: string, keys: string[]): Heartbeat {
  const labels = pickLabels(labelsOf(node), keys);
  return parseHeartbeat({
    metadata: {
      name: `purelb-node-${node}`,
      annotations: {
        'purelb.io/subnets': '192.168.1.0/24',
        ...(keys.length ? { 'purelb.io/node-labels': formatLabels(labels) } : {}),
      },
    },
    spec: { holderIdentity: node, renewTime: new Date(0), leaseDurationSeconds: 1e9 },
  })!;
}

const svc = (ip: string, extra: Partial<ServiceInput> = {}): ServiceInput => ({
  key: `ns/${ip}`,
  addresses: [parseIP(ip)!],
  etpLocal: false,
  allocatedFrom: ['edge'],
  announcing: {},
  labels: {},
  ...extra,
});

/** The decision of every node for one Service, each from its own point of view (own labels, same Leases). */
function decideEverywhere(spec: Parameters<typeof sg>[0], service: ServiceInput, over: Partial<DesiredInputs> = {}) {
  const group = sg(spec).config!;
  const keys = selectorKeys([group.nodeSelectors, group.preferredNodeSelectors]);
  const heartbeats = NODES.map((n) => published(n, keys));
  return NODES.map((node) => ({
    node,
    ...decideAddresses({
      node,
      links,
      localCandidates: { 4: ['eth0'], 6: [] },
      owned: new Set(),
      extlbint: 'kube-lb0',
      services: [service],
      endpoints: new Map(),
      heartbeats,
      groups: [group],
      now: 1000,
      labels: labelsOf(node),
      ...over,
    })[0]!,
  }));
}
const announcers = (ds: Array<{ node: string; announce: boolean }>) => ds.filter((d) => d.announce).map((d) => d.node);

describe('node selectors', () => {
  test('matchLabels and every operator; a list matches when any selector matches', () => {
    const l = labelsOf('n3');
    expect(
      selectorMatches(
        { matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1', 'r9'] }] },
        l,
      ),
    ).toBe(true);
    expect(
      selectorMatches({ matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1'] }] }, l),
    ).toBe(false);
    expect(
      selectorMatches({ matchLabels: {}, matchExpressions: [{ key: 'gpu', operator: 'NotIn', values: ['x'] }] }, l),
    ).toBe(true);
    expect(
      selectorMatches({ matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'Exists', values: [] }] }, l),
    ).toBe(true);
    expect(
      selectorMatches(
        { matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'DoesNotExist', values: [] }] },
        l,
      ),
    ).toBe(false);
    const { config } = sg({ nodeSelectors: [...zoneB, ...rackR1] });
    expect(NODES.filter((n) => config!.nodeSelectors!.some((s) => selectorMatches(s, labelsOf(n))))).toEqual([
      'n1',
      'n3',
      'n4',
    ]);
  });

  test('the heartbeat publishes only the keys selectors read, and parses back; garbage reads as no labels', () => {
    const { config } = sg({ nodeSelectors: zoneB, preferredNodeSelectors: rackR1 });
    const keys = selectorKeys([config!.nodeSelectors, config!.preferredNodeSelectors]);
    expect(keys).toEqual(['rack', 'topology.kubernetes.io/zone']);
    expect(published('n3', keys).labels).toEqual({ rack: 'r1', 'topology.kubernetes.io/zone': 'b' });
    expect(published('n3', []).labels).toEqual({});
    const bad = parseHeartbeat({
      metadata: { name: 'purelb-node-n1', annotations: { 'purelb.io/node-labels': '{not json' } },
      spec: { holderIdentity: 'n1', renewTime: new Date(0), leaseDurationSeconds: 5 },
    })!;
    expect(bad.labels).toEqual({});
  });

  test('virtual addresses go only on selected nodes; no selector means every node', () => {
    const v = svc('10.200.0.7');
    expect(announcers(decideEverywhere({ nodeSelectors: zoneB }, v))).toEqual(['n3', 'n4']);
    expect(announcers(decideEverywhere({}, v))).toEqual(NODES);
    const n1 = decideEverywhere({ nodeSelectors: zoneB }, v)[0]!;
    expect(n1.reason).toBe(
      "node n1 is not selected by ServiceGroup edge's nodeSelectors {topology.kubernetes.io/zone=b}",
    );
  });

  test('ETP Local intersects the selector with the endpoint nodes', () => {
    const endpoints = new Map([['ns/10.200.0.7', new Set(['n2', 'n3'])]]);
    const ds = decideEverywhere({ nodeSelectors: zoneB }, svc('10.200.0.7', { etpLocal: true }), { endpoints });
    expect(announcers(ds)).toEqual(['n3']);
    expect(ds.find((d) => d.node === 'n4')!.reason).toContain('no ready endpoint on node n4');
    const local = decideEverywhere({ nodeSelectors: zoneB }, svc('192.168.1.201', { etpLocal: true }), {
      endpoints: new Map([['ns/192.168.1.201', new Set(['n2', 'n3'])]]),
    });
    expect(announcers(local)).toEqual(['n3']);
  });

  test('local addresses elect only among selected nodes; every node agrees on one owner', () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 250 }), (host) => {
        const ip = `192.168.1.${host}`;
        const ds = decideEverywhere({ nodeSelectors: zoneB }, svc(ip));
        expect(announcers(ds)).toEqual([electWinner(ip, ['n3', 'n4'])]);
        expect(new Set(ds.map((d) => d.winner))).toEqual(new Set([electWinner(ip, ['n3', 'n4'])]));
      }),
    );
  });

  test('no selected node alive: nobody announces, and the reason says so', () => {
    const group = sg({ nodeSelectors: [{ matchLabels: { rack: 'r9' } }] });
    const ds = decideEverywhere({ nodeSelectors: [{ matchLabels: { rack: 'r9' } }] }, svc('192.168.1.201'));
    expect(announcers(ds)).toEqual([]);
    expect(group.problems).toEqual([]);
    expect(ds[0]!.reason).toContain('not selected');
  });
});

describe('preferred nodes and stickiness', () => {
  test('a new address goes to a preferred live candidate; without one live, to any candidate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 250 }), (host) => {
        const ip = `192.168.1.${host}`;
        const ds = decideEverywhere({ preferredNodeSelectors: rackR1 }, svc(ip));
        expect(announcers(ds)).toEqual([electWinner(ip, ['n1', 'n3'])]);
        expect(ds[0]!.basis).toBe('preferred');
      }),
    );
    const keys = ['rack'];
    const deadPreferred = NODES.map((n) => published(n, keys)).filter((h) => RACK[h.node] !== 'r1');
    const ds = decideEverywhere({ preferredNodeSelectors: rackR1 }, svc('192.168.1.201'), {
      heartbeats: deadPreferred,
    });
    expect(announcers(ds)).toEqual([electWinner('192.168.1.201', ['n2', 'n4'])]);
    expect(ds[0]!.basis).toBe('hash');
  });

  test('the current owner keeps the address while it is a candidate: nothing flaps back to a returning or preferred node', () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 250 }), fc.constantFrom(...NODES), (host, owner) => {
        const ip = `192.168.1.${host}`;
        const ds = decideEverywhere(
          { preferredNodeSelectors: rackR1 },
          svc(ip, { announcing: { 4: `${owner},eth0` } }),
        );
        expect(announcers(ds)).toEqual([owner]);
        expect(ds.find((d) => d.node !== owner)!.reason).toBe(`${owner} keeps it as its current owner`);
      }),
    );
  });

  test('the owner loses the address when it stops being eligible (deselected, dead, no endpoint)', () => {
    const ip = '192.168.1.201';
    const owned = svc(ip, { announcing: { 4: 'n1, eth0' } }); // PureLB v1 writes a space after the comma
    expect(announcers(decideEverywhere({ nodeSelectors: zoneB }, owned))).toEqual([electWinner(ip, ['n3', 'n4'])]);
    const dead = NODES.filter((n) => n !== 'n1').map((n) => published(n, []));
    expect(announcers(decideEverywhere({}, owned, { heartbeats: dead }))).toEqual([
      electWinner(ip, ['n2', 'n3', 'n4']),
    ]);
    const endpoints = new Map([[owned.key, new Set(['n2'])]]);
    expect(announcers(decideEverywhere({}, { ...owned, etpLocal: true }, { endpoints }))).toEqual(['n2']);
  });

  test('an out-of-service owner is no candidate: the others elect a new one', () => {
    const ip = '192.168.1.201';
    const owned = svc(ip, { announcing: { 4: 'n1,eth0' } });
    const heartbeats = NODES.filter((n) => n !== 'n1').map((n) => published(n, []));
    const n1 = decideEverywhere({}, owned, { outOfService: 'it is cordoned (spec.unschedulable)' })[0]!;
    expect(n1.announce).toBe(false);
    expect(announcers(decideEverywhere({}, owned, { heartbeats }))).toEqual([electWinner(ip, ['n2', 'n3', 'n4'])]);
  });

  test('owners named by several Services sharing the address: every node keeps the same one', () => {
    fc.assert(
      fc.property(fc.subarray(NODES, { minLength: 1 }), fc.subarray(NODES), (owners, alive) => {
        const candidates = alive.map((node) => ({ node, preferred: false }));
        const a = electOwner('192.168.1.9', candidates, owners);
        const b = electOwner('192.168.1.9', [...candidates].reverse(), [...owners].reverse());
        expect(a).toEqual(b);
        const keep = alive.filter((n) => owners.includes(n));
        if (keep.length) expect(a).toEqual({ node: [...keep].sort()[0], basis: 'owner' });
        else if (alive.length) expect(a?.basis).toBe('hash');
        else expect(a).toBeUndefined();
      }),
    );
  });
});

describe('validation', () => {
  const problems = (spec: Record<string, unknown>) => sg(spec as never).problems.map(formatProblem);
  test('valid selectors parse; absent or empty lists mean every node', () => {
    expect(sg({ nodeSelectors: [...zoneB, ...rackR1] }).config!.nodeSelectors).toEqual([
      { matchLabels: { 'topology.kubernetes.io/zone': 'b' }, matchExpressions: [] },
      { matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1'] }] },
    ]);
    expect(sg({ nodeSelectors: [] }).config!.nodeSelectors).toBeUndefined();
    expect(sg({}).config!.preferredNodeSelectors).toBeUndefined();
  });
  test('refusals name the field and the fix', () => {
    expect(problems({ nodeSelectors: [{}] })).toEqual([
      'ServiceGroup purelb/edge: spec.nodeSelectors[0]: is empty and would select every node; remove it (no nodeSelectors means every node) or add matchLabels',
    ]);
    expect(problems({ nodeSelectors: { matchLabels: { a: 'b' } } })[0]).toContain(
      'spec.nodeSelectors: must be a list of label selectors',
    );
    expect(
      problems({ preferredNodeSelectors: [{ matchExpressions: [{ key: 'rack', operator: 'In', values: [] }] }] }),
    ).toEqual([
      'ServiceGroup purelb/edge: spec.preferredNodeSelectors[0].matchExpressions[0].values: operator In needs at least one value',
    ]);
    expect(
      problems({ nodeSelectors: [{ matchExpressions: [{ key: 'rack', operator: 'Gt', values: ['1'] }] }] })[0],
    ).toContain('operator: must be one of In, NotIn, Exists, DoesNotExist');
    expect(problems({ nodeSelectors: [{ matchLabels: { 'bad key!': 'x' } }] })[0]).toContain(
      'matchLabels["bad key!"]: is not a valid label key',
    );
    expect(problems({ nodeSelectors: [{ matchLabels: { zone: 'a b' } }] })[0]).toContain('must be a label value');
    expect(problems({ nodeSelector: zoneB })[0]).toContain(
      'known fields are local, netbox, autoAssign, serviceAllocation, nodeSelectors',
    );
  });
});
