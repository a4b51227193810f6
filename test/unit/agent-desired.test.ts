import { describe, expect, test } from '@jest/globals';
import { parseCIDR, parseIP } from '../../src/api/ip.ts';
import type { ServiceGroup } from '../../src/api/types.ts';
import { parseServiceGroup } from '../../src/api/validate-servicegroup.ts';
import { ServingGroups } from '../../src/model/servicegroups.ts';
import { aggregationPrefix, virtualPrefix } from '../../src/model/aggregation.ts';
import { decideAddresses, type DesiredInputs } from '../../src/agent/desired.ts';
import { electWinner } from '../../src/agent/election.ts';
import type { Heartbeat } from '../../src/model/heartbeat.ts';
import { parseIpAddrJson } from '../../src/agent/interfaces.ts';
import type { ServiceInput } from '../../src/model/services.ts';

const group = (name: string, local: NonNullable<ServiceGroup['spec']>['local']): ServiceGroup => ({
  metadata: { name },
  spec: { local },
});
const config = (g: ServiceGroup) => parseServiceGroup(g).config!;
const groups = [
  group('virt', {
    v4pools: [{ subnet: '10.200.0.0/24', pool: '10.200.0.0/24', aggregation: 'default' }],
    v6pools: [{ subnet: 'fd00:200::/112', pool: 'fd00:200::/112', aggregation: '/128' }],
  }),
  group('hosts', { v4pool: { subnet: '10.201.0.0/24', pool: '10.201.0.1-10.201.0.9', aggregation: '/32' } }),
  group('legacy', { subnet: '10.202.0.0/16', pool: '10.202.1.0/24', aggregation: '/20' }),
].map(config);

describe('aggregation prefix of virtual addresses', () => {
  test('default = the pool subnet mask; /N = N; legacy trio; IPv6', () => {
    expect(aggregationPrefix(parseIP('10.200.0.5')!, groups)).toBe(24);
    expect(aggregationPrefix(parseIP('10.201.0.5')!, groups)).toBe(32);
    expect(aggregationPrefix(parseIP('10.202.1.5')!, groups)).toBe(20);
    expect(aggregationPrefix(parseIP('fd00:200::5')!, groups)).toBe(128);
    expect(aggregationPrefix(parseIP('10.9.9.9')!, groups)).toBeUndefined();
  });
  test('the named groups are searched first; an unknown address gets a host route', () => {
    const overlapping = [
      config(group('wide', { v4pool: { subnet: '10.200.0.0/16', pool: '10.200.0.1/32', aggregation: 'default' } })),
      ...groups,
    ];
    expect(virtualPrefix(parseIP('10.200.0.5')!, ['virt'], overlapping)).toBe(24);
    expect(virtualPrefix(parseIP('10.200.0.5')!, [], overlapping)).toBe(16);
    expect(virtualPrefix(parseIP('10.9.9.9')!, ['virt'], groups)).toBe(32);
    expect(virtualPrefix(parseIP('fd00:9::9')!, [], groups)).toBe(128);
  });
  test('only serving groups set a prefix: an invalid or overlapping group sets none, an invalid edit keeps the last valid one', () => {
    const at = (name: string, t: string) => ({ uid: name, generation: 1, creationTimestamp: new Date(t) });
    const good = {
      ...group('good', { v4pool: { subnet: '10.210.0.0/16', pool: '10.210.0.0/24', aggregation: '/24' } }),
    };
    good.metadata = { ...good.metadata, ...at('good', '2026-01-01T00:00:00Z') };
    const overlap = group('overlap', {
      v4pool: { subnet: '10.210.0.0/16', pool: '10.210.0.0/25', aggregation: '/16' },
    });
    overlap.metadata = { ...overlap.metadata, ...at('overlap', '2026-01-02T00:00:00Z') };
    const invalid = group('invalid', {
      v4pool: { subnet: '10.211.0.0/16', pool: '10.211.0.0/24', aggregation: '/99' },
    });
    invalid.metadata = { ...invalid.metadata, ...at('invalid', '2026-01-01T00:00:00Z') };
    const serving = new ServingGroups();
    const configs = serving.update([good, overlap, invalid]);
    expect(configs.map((c) => c.name)).toEqual(['good']);
    expect(virtualPrefix(parseIP('10.210.0.5')!, ['overlap'], configs)).toBe(24);
    expect(virtualPrefix(parseIP('10.211.0.5')!, ['invalid'], configs)).toBe(32);
    // an edit that breaks "good" keeps its last valid version (same uid), as the allocator does
    const broken = {
      ...good,
      metadata: { ...good.metadata, generation: 2 },
      spec: { local: { v4pool: { subnet: 'x', pool: 'y' } } },
    };
    expect(virtualPrefix(parseIP('10.210.0.5')!, ['good'], serving.update([broken as ServiceGroup]))).toBe(24);
  });
});

const links = parseIpAddrJson(
  JSON.stringify([
    {
      ifname: 'eth0',
      addr_info: [
        { family: 'inet', local: '192.168.1.11', prefixlen: 24 },
        { family: 'inet6', local: 'fd00:1::11', prefixlen: 64 },
      ],
    },
    { ifname: 'kube-lb0', addr_info: [] },
  ]),
);
const beat = (node: string, expiresAt = 1e15): Heartbeat => ({
  node,
  subnets: ['192.168.1.0/24', 'fd00:1::/64'].map((s) => parseCIDR(s)!),
  labels: {},
  expiresAt,
  renewedAt: 0,
});
const svc = (key: string, ips: string[], extra: Partial<ServiceInput> = {}): ServiceInput => ({
  key,
  addresses: ips.map((i) => parseIP(i)!),
  etpLocal: false,
  allocatedFrom: [],
  announcing: {},
  labels: {},
  ...extra,
});

function inputs(over: Partial<DesiredInputs>): DesiredInputs {
  return {
    node: 'n1',
    links,
    localCandidates: { 4: ['eth0'], 6: ['eth0'] },
    owned: new Set(),
    extlbint: 'kube-lb0',
    services: [],
    endpoints: new Map(),
    heartbeats: ['n1', 'n2', 'n3'].map((n) => beat(n)),
    groups,
    now: 1000,
    labels: {},
    ...over,
  };
}

describe('decisions', () => {
  test('local vs virtual per address and family; the local winner is the rendezvous winner', () => {
    const ds = decideAddresses(
      inputs({ services: [svc('ns/a', ['192.168.1.200', 'fd00:200::7', '10.200.0.5'], { allocatedFrom: ['virt'] })] }),
    );
    const local = ds.find((d) => d.ip === '192.168.1.200')!;
    expect(local).toMatchObject({
      kind: 'local',
      ifname: 'eth0',
      prefix: 24,
      winner: electWinner('192.168.1.200', ['n1', 'n2', 'n3']),
    });
    expect(local.announce).toBe(local.winner === 'n1');
    expect(ds.find((d) => d.ip === 'fd00:200::7')).toMatchObject({
      kind: 'virtual',
      ifname: 'kube-lb0',
      prefix: 128,
      announce: true,
    });
    expect(ds.find((d) => d.ip === '10.200.0.5')).toMatchObject({ kind: 'virtual', prefix: 24, announce: true });
  });

  test('every node agrees on one winner, and a node without a live heartbeat never announces', () => {
    const services = [svc('ns/a', ['192.168.1.200']), svc('ns/b', ['192.168.1.201']), svc('ns/c', ['fd00:1::9'])];
    for (const s of services) {
      const ip = s.addresses[0]!;
      const text =
        ip.family === 4 ? ['192.168.1.200', '192.168.1.201'].find((t) => parseIP(t)!.value === ip.value)! : 'fd00:1::9';
      const announcers = ['n1', 'n2', 'n3'].filter(
        (n) => decideAddresses(inputs({ node: n, services: [s] }))[0]!.announce,
      );
      expect(announcers).toEqual([electWinner(text, ['n1', 'n2', 'n3'])]);
    }
    const winner = electWinner('192.168.1.200', ['n1', 'n2', 'n3'])!;
    const fenced = decideAddresses(
      inputs({
        node: winner,
        services: [services[0]!],
        heartbeats: ['n1', 'n2', 'n3'].filter((n) => n !== winner).map((n) => beat(n)),
      }),
    )[0]!;
    expect(fenced.announce).toBe(false);
    expect(fenced.winner).toBe(
      electWinner(
        '192.168.1.200',
        ['n1', 'n2', 'n3'].filter((n) => n !== winner),
      ),
    );
  });

  test('an expired heartbeat drops the node from the election', () => {
    const winner = electWinner('192.168.1.200', ['n1', 'n2', 'n3'])!;
    const beats = ['n1', 'n2', 'n3'].map((n) => beat(n, n === winner ? 500 : 1e15));
    const d = decideAddresses(inputs({ services: [svc('ns/a', ['192.168.1.200'])], heartbeats: beats }))[0]!;
    expect(d.winner).not.toBe(winner);
  });

  test('ETP Local: local election among nodes with endpoints; virtual only where endpoints are', () => {
    const endpoints = new Map([
      ['ns/l', new Set(['n2'])],
      ['ns/v', new Set(['n1'])],
    ]);
    const ds = decideAddresses(
      inputs({
        services: [
          svc('ns/l', ['192.168.1.200'], { etpLocal: true }),
          svc('ns/v', ['10.201.0.3'], { etpLocal: true, allocatedFrom: ['hosts'] }),
        ],
        endpoints,
      }),
    );
    expect(ds.find((d) => d.ip === '192.168.1.200')).toMatchObject({ winner: 'n2', announce: false });
    expect(ds.find((d) => d.ip === '10.201.0.3')).toMatchObject({ announce: true, prefix: 32 });
    const n2 = decideAddresses(
      inputs({ node: 'n2', services: [svc('ns/v', ['10.201.0.3'], { etpLocal: true })], endpoints }),
    );
    expect(n2[0]).toMatchObject({ announce: false, reason: expect.stringContaining('no ready endpoint') });
    const none = decideAddresses(inputs({ services: [svc('ns/l', ['192.168.1.200'], { etpLocal: true })] }));
    expect(none[0]).toMatchObject({ winner: undefined, announce: false });
  });

  test('a shared address is announced wherever any of its Services needs it', () => {
    const endpoints = new Map([['ns/a', new Set(['n3'])]]);
    const shared = [svc('ns/a', ['10.201.0.4'], { etpLocal: true }), svc('ns/b', ['10.201.0.4'], { etpLocal: true })];
    expect(decideAddresses(inputs({ services: shared, endpoints }))[0]).toMatchObject({
      announce: false,
      services: ['ns/a', 'ns/b'],
    });
    expect(decideAddresses(inputs({ node: 'n3', services: shared, endpoints }))[0]!.announce).toBe(true);
    const withCluster = [shared[0]!, svc('ns/c', ['10.201.0.4'])];
    expect(decideAddresses(inputs({ services: withCluster, endpoints }))[0]!.announce).toBe(true);
  });
});
