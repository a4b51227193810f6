import { describe, expect, test } from '@jest/globals';
import type { V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import { buildStatusReport, renderStatus, table, type StatusInputs } from '../../src/status/report.ts';
import { nameByNeighbours, parseKernelRoutes, parseVtyshRoutes } from '../../src/status/upstream.ts';
import { countAnswers, urlFor } from '../../src/lab/spread.ts';
import { DEFAULT_OPTIONS, planLab } from '../../src/lab/plan.ts';
import { endpointSlices, sampleServiceGroups, sampleServices, serviceObject } from '../../src/lab/samples.ts';
import { validateObject } from '../../src/api/validate.ts';

const now = new Date('2026-11-21T06:00:00Z');
const lease = (node: string, subnets: string, renewedAgoS: number): V1Lease => ({
  metadata: { name: `purelb-node-${node}`, namespace: 'purelb', annotations: { 'purelb.io/subnets': subnets } },
  spec: {
    holderIdentity: node,
    leaseDurationSeconds: 3,
    renewTime: new Date(now.getTime() - renewedAgoS * 1000),
  },
});
const svc = (name: string, ips: string[], ann: Record<string, string>, etp = 'Cluster'): V1Service => ({
  metadata: { name, namespace: 'default', annotations: { 'purelb.io/allocated-by': 'PureLB', ...ann } },
  spec: { type: 'LoadBalancer', externalTrafficPolicy: etp },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});

function inputs(over: Partial<StatusInputs> = {}): StatusInputs {
  return {
    now,
    namespace: 'purelb',
    services: [
      svc('web', ['10.200.0.10'], { 'purelb.io/allocated-from': 'virtual' }),
      svc('local', ['192.168.100.247'], { 'purelb.io/allocated-from': 'lan', 'purelb.io/announcing-IPv4': 'n2,eth0' }),
      svc('only-local', ['10.200.0.11'], { 'purelb.io/allocated-from': 'virtual' }, 'Local'),
      svc('dual', ['10.200.0.12', 'fd00:200:0::10'], { 'purelb.io/allocated-from': 'virtual' }),
      { metadata: { name: 'other', namespace: 'default' }, status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } },
    ],
    serviceGroups: [
      {
        metadata: { name: 'virtual' },
        status: {
          allocatedIPv4: 3,
          availableIPv4: 238,
          allocatedIPv6: 1,
          availableIPv6: 239,
          conditions: [{ type: 'Valid', status: 'True' }],
        },
      },
      {
        metadata: { name: 'broken' },
        status: {
          conditions: [
            { type: 'Valid', status: 'False', message: 'spec.local.v4pools[0].pool: 10.0.0.9-10.0.0.1: from > to' },
          ],
        },
      },
    ],
    leases: [
      lease('n1', '192.168.100.0/24,fd00:100::/64', 1),
      lease('n2', '192.168.100.0/24', 1),
      lease('n3', '192.168.100.0/24', 10),
      { metadata: { name: 'purelb-allocator' }, spec: {} },
    ],
    routingStatuses: [
      {
        metadata: { name: 'n1' },
        status: {
          routerConfig: 'lab',
          daemon: 'bird',
          protocol: 'bgp',
          lastReload: { result: 'Applied' },
          sessions: [{ name: 'tor4', state: 'Established' }],
          advertised: ['10.200.0.10/32', '10.200.0.11/32', '10.200.0.12/32', 'fd00:200::10/128'],
        },
      },
      {
        metadata: { name: 'n2' },
        status: {
          routerConfig: 'lab',
          daemon: 'bird',
          protocol: 'bgp',
          lastReload: { result: 'Rejected', error: 'syntax error' },
          sessions: [{ name: 'tor4', state: 'Active' }],
          advertised: ['10.200.0.10/32', '10.200.0.0/24'],
        },
      },
    ],
    endpointSlices: [
      {
        metadata: {
          name: 'only-local-x',
          namespace: 'default',
          labels: { 'kubernetes.io/service-name': 'only-local' },
        },
        addressType: 'IPv4',
        endpoints: [
          { addresses: ['192.168.100.2'], nodeName: 'n1', conditions: { ready: true } },
          { addresses: ['192.168.100.3'], nodeName: 'n2', conditions: { ready: false } },
        ],
      },
    ],
    ...over,
  };
}

describe('buildStatusReport', () => {
  test('an aggregated virtual address is announced by the nodes advertising its aggregate (not only /32)', () => {
    const agg = {
      metadata: { name: 'agg', uid: 'a', generation: 1 },
      spec: { local: { v4pools: [{ subnet: '10.220.0.0/24', pool: '10.220.0.0/24', aggregation: 'default' }] } },
    };
    const base = inputs();
    const r = buildStatusReport({
      ...base,
      services: [svc('agg', ['10.220.0.7'], { 'purelb.io/allocated-from': 'agg' })],
      serviceGroups: [...base.serviceGroups, agg],
      routingStatuses: [
        { metadata: { name: 'n1' }, status: { routerConfig: 'lab', advertised: ['10.220.0.0/24'] } },
        { metadata: { name: 'n2' }, status: { routerConfig: 'lab', advertised: [] } },
      ],
      upstream: { netns: 'tor', routes: { '10.220.0.0/24': ['192.168.100.11'] }, nodeByIP: { '192.168.100.11': 'n1' } },
    });
    expect(r.services.map((s) => [s.address, s.kind, s.announcing, s.upstream])).toEqual([
      ['10.220.0.7', 'virtual', ['n1'], ['n1']],
    ]);
  });

  test('ETP Local endpoint nodes: ready or serving (a terminating endpoint still serving counts, as in the agent)', () => {
    const slice = (nodeName: string, conditions: object) =>
      ({
        metadata: {
          name: `only-local-${nodeName}`,
          namespace: 'default',
          labels: { 'kubernetes.io/service-name': 'only-local' },
        },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['192.168.100.9'], nodeName, conditions }],
      }) as V1EndpointSlice;
    const r = buildStatusReport(
      inputs({
        endpointSlices: [
          slice('n1', { ready: false, serving: true, terminating: true }),
          slice('n2', { ready: false, serving: false }),
          slice('n3', {}),
        ],
      }),
    );
    expect(r.services.find((s) => s.service === 'default/only-local')!.endpointNodes).toEqual(['n1', 'n3']);
  });

  test('pools: used/free per family and the Valid condition', () => {
    expect(buildStatusReport(inputs()).pools).toEqual([
      {
        group: 'broken',
        valid: false,
        message: 'spec.local.v4pools[0].pool: 10.0.0.9-10.0.0.1: from > to',
        ipv4: null,
        ipv6: null,
      },
      { group: 'virtual', valid: true, ipv4: { used: 3, free: 238 }, ipv6: { used: 1, free: 239 } },
    ]);
  });

  test("services: only ours; local vs virtual from the agents' subnets; announcing from annotation or routing status; why not elsewhere", () => {
    const r = buildStatusReport(inputs());
    expect(r.services).toEqual([
      {
        service: 'default/dual',
        address: '10.200.0.12',
        family: 4,
        group: 'virtual',
        kind: 'virtual',
        etp: 'Cluster',
        announcing: ['n1'],
        // n2 would carry it but runs an older routing config (Rejected) without it; n3's Lease expired
        ineligible: { n2: 'routing rejected', n3: 'fenced' },
      },
      {
        service: 'default/dual',
        address: 'fd00:200::10',
        family: 6,
        group: 'virtual',
        kind: 'virtual',
        etp: 'Cluster',
        announcing: ['n1'],
        // n2 would carry it but runs an older routing config (Rejected) without it; n3's Lease expired
        ineligible: { n2: 'routing rejected', n3: 'fenced' },
      },
      {
        service: 'default/local',
        address: '192.168.100.247',
        family: 4,
        group: 'lan',
        kind: 'local',
        etp: 'Cluster',
        announcing: ['n2'],
        ineligible: { n3: 'fenced' },
      },
      {
        service: 'default/only-local',
        address: '10.200.0.11',
        family: 4,
        group: 'virtual',
        kind: 'virtual',
        etp: 'Local',
        announcing: ['n1'],
        endpointNodes: ['n1'],
        ineligible: { n2: 'no endpoint', n3: 'fenced' },
      },
      // the /24 n2 advertises is not a host route of the address: only /32 counts
      {
        service: 'default/web',
        address: '10.200.0.10',
        family: 4,
        group: 'virtual',
        kind: 'virtual',
        etp: 'Cluster',
        announcing: ['n1', 'n2'],
        ineligible: { n3: 'fenced' },
      },
    ]);
  });

  test('a node whose agent marked its Lease out of service is excluded everywhere, and shown so', () => {
    const marked = lease('n3', '192.168.100.0/24', 10);
    marked.metadata!.annotations!['purelb.io/out-of-service'] = 'it is cordoned (spec.unschedulable)';
    const r = buildStatusReport(inputs({ leases: [lease('n1', '192.168.100.0/24', 1), marked] }));
    expect(r.services.map((x) => x.ineligible.n3)).toEqual(Array(5).fill('excluded'));
    expect(r.nodes.find((n) => n.name === 'n3')!.heartbeat).toBe('out of service');
    expect(renderStatus(r)).toMatch(
      /default\/web\s+10\.200\.0\.10\s+virtual\s+virtual\s+Cluster\s+n1,n2\s+n3 \(excluded\)/,
    );
  });

  test('pending: a Service of ours without an address, with the newest AllocationFailed note', () => {
    const pending = (name: string, cls?: string): V1Service => ({
      metadata: { name, namespace: 'team' },
      spec: { type: 'LoadBalancer', ...(cls ? { loadBalancerClass: cls } : {}) },
    });
    const failed = (name: string, note: string, at: string) => ({
      eventTime: new Date(at),
      reason: 'AllocationFailed',
      note,
      regarding: { kind: 'Service', namespace: 'team', name },
      metadata: {},
    });
    const r = buildStatusReport(
      inputs({
        services: [pending('intruder'), pending('quiet'), pending('theirs', 'other.io/lb'), ...inputs().services],
        allocationEvents: [
          failed(
            'intruder',
            'ServiceGroup gold has no free IPv4 address; release an address or add a pool',
            '2026-11-21T05:00:00Z',
          ),
          failed(
            'intruder',
            'Service team/intruder may not use ServiceGroup gold (purelb.io/service-group): ...',
            '2026-11-21T05:59:00Z',
          ),
        ],
      }),
    );
    expect(r.pending).toEqual([
      {
        service: 'team/intruder',
        why: 'Service team/intruder may not use ServiceGroup gold (purelb.io/service-group): ...',
      },
      { service: 'team/quiet', why: 'no AllocationFailed event (is an allocator leading?)' },
    ]);
    expect(renderStatus(r)).toContain(
      'PENDING (no address)\nSERVICE        WHY\nteam/intruder  Service team/intruder may not use',
    );
    expect(renderStatus(buildStatusReport(inputs()))).not.toContain('PENDING');
  });

  test('nodes: heartbeat freshness, daemon, reload result, sessions', () => {
    const r = buildStatusReport(inputs());
    expect(r.nodes.map((n) => [n.name, n.heartbeat, n.daemon, n.lastReload, n.sessions, n.advertised.length])).toEqual([
      ['n1', 'live', 'bird', 'Applied', [{ name: 'tor4', state: 'Established' }], 4],
      ['n2', 'live', 'bird', 'Rejected: syntax error', [{ name: 'tor4', state: 'Active' }], 2],
      ['n3', 'expired', undefined, undefined, [], 0],
    ]);
    expect(buildStatusReport(inputs({ leases: [] })).nodes.map((n) => [n.name, n.heartbeat])).toEqual([
      ['n1', 'none'],
      ['n2', 'none'],
    ]);
  });

  test('upstream next hops are shown as node names (link-local and global next hops alike)', () => {
    const r = buildStatusReport(
      inputs({
        upstream: {
          netns: 'tor',
          nodeByIP: { '192.168.100.2': 'n1', '192.168.100.3': 'n2', 'fe80::1': 'n1' },
          routes: {
            '10.200.0.10/32': ['192.168.100.2', '192.168.100.3'],
            'fd00:200::10/128': ['fe80::1'],
            '10.200.0.11/32': ['192.168.100.9'],
          },
        },
      }),
    );
    const up = Object.fromEntries(r.services.map((s) => [s.address, s.upstream]));
    expect(up).toEqual({
      '10.200.0.10': ['n1', 'n2'],
      'fd00:200::10': ['n1'],
      '10.200.0.11': ['192.168.100.9'],
      '10.200.0.12': [],
      '192.168.100.247': [],
    });
    expect(r.upstream).toEqual({ netns: 'tor' });
  });

  test('without any agent heartbeat the kind is unknown rather than guessed', () => {
    expect(buildStatusReport(inputs({ leases: [] })).services.every((s) => s.kind === 'unknown')).toBe(true);
  });

  test("nodes a group's nodeSelectors do not select are named, from the labels their heartbeat Leases publish", () => {
    const labelled = (node: string, zone: string) => {
      const l = lease(node, '192.168.100.0/24', 1);
      l.metadata!.annotations!['purelb.io/node-labels'] = JSON.stringify({ zone });
      return l;
    };
    const r = buildStatusReport(
      inputs({
        services: [svc('edge', ['10.200.0.10'], { 'purelb.io/allocated-from': 'edge' })],
        serviceGroups: [
          {
            metadata: { name: 'edge' },
            spec: {
              local: { v4pools: [{ subnet: '10.200.0.0/24', pool: '10.200.0.0/24' }] },
              nodeSelectors: [{ matchLabels: { zone: 'b' } }],
            },
          },
        ],
        leases: [labelled('n1', 'a'), labelled('n2', 'b')],
      }),
    );
    expect(r.services[0]!.ineligible).toEqual({ n1: 'not selected' });
    expect(renderStatus(r)).toMatch(
      /default\/edge\s+10\.200\.0\.10\s+edge\s+virtual\s+Cluster\s+n2\s+n1 \(not selected\)/,
    );
  });

  test('renderStatus prints every section and the failing reload', () => {
    const text = renderStatus(buildStatusReport(inputs()));
    expect(text).toContain('POOLS (namespace purelb; used/free)');
    expect(text).toMatch(/virtual\s+yes\s+3\/238\s+1\/239/);
    expect(text).toMatch(
      /default\/only-local\s+10\.200\.0\.11\s+virtual\s+virtual\s+Local \(endpoints: n1\)\s+n1\s+n2 \(no endpoint\)/,
    );
    expect(text).toMatch(/n2\s+live\s+bird\/bgp\s+Rejected: syntax error\s+tor4=Active\s+2/);
  });
});

test('table pads columns and trims line ends', () => {
  expect(
    table(
      ['A', 'BB'],
      [
        ['xxx', 'y'],
        ['z', ''],
      ],
    ),
  ).toBe('A    BB\nxxx  y\nz');
});

describe('upstream parsers (shapes captured from FRR 8.4 and iproute2 on this machine)', () => {
  test('vtysh: host prefixes with their FIB next hops, connected routes ignored', () => {
    const json = JSON.stringify({
      '10.200.0.10/32': [
        {
          protocol: 'bgp',
          selected: true,
          installed: true,
          nexthops: [
            { fib: true, ip: '192.168.100.2', interfaceName: 'lan0', active: true },
            { fib: true, ip: '192.168.100.3', interfaceName: 'lan0', active: true },
            { ip: '192.168.100.4', interfaceName: 'lan0', active: false },
          ],
        },
      ],
      '10.200.0.11/32': [
        { protocol: 'ospf', selected: false, nexthops: [{ fib: false, ip: '192.168.100.4' }] },
        { protocol: 'bgp', selected: true, nexthops: [{ fib: true, ip: '192.168.100.4' }] },
      ],
      '10.220.0.0/24': [{ protocol: 'bgp', selected: true, nexthops: [{ fib: true, ip: '192.168.100.5' }] }],
      '192.168.100.0/24': [
        {
          protocol: 'connected',
          selected: true,
          installed: true,
          nexthops: [{ fib: true, interfaceName: 'lan0', active: true }],
        },
      ],
      'fd00:200::10/128': [
        {
          protocol: 'bgp',
          selected: true,
          nexthops: [
            { fib: true, ip: 'fd00:100:0::2' },
            { fib: true, ip: 'fe80::a' },
          ],
        },
      ],
    });
    expect(parseVtyshRoutes(json)).toEqual({
      '10.200.0.10/32': ['192.168.100.2', '192.168.100.3'],
      '10.200.0.11/32': ['192.168.100.4'],
      // an aggregated pool's route counts too; the connected LAN route has no next hop
      '10.220.0.0/24': ['192.168.100.5'],
      'fd00:200::10/128': ['fd00:100::2', 'fe80::a'],
    });
  });

  test('kernel: ECMP and single next hops', () => {
    const v4 =
      '[{"dst":"10.200.0.10","flags":[],"nexthops":[{"gateway":"192.168.100.2","dev":"lan0","weight":1,"flags":[]},{"gateway":"192.168.100.3","dev":"lan0","weight":1,"flags":[]}]},{"dst":"10.200.0.11","gateway":"192.168.100.4","dev":"lan0","flags":[]},{"dst":"192.168.100.0/24","dev":"lan0","protocol":"kernel","scope":"link","prefsrc":"192.168.100.1","flags":[]}]';
    const v6 =
      '[{"dst":"fd00:100::/64","dev":"lan0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"fd00:200::10","metric":1024,"flags":[],"pref":"medium","nexthops":[{"gateway":"fd00:100::2","dev":"lan0","weight":1,"flags":[]},{"gateway":"fd00:100::4","dev":"lan0","weight":1,"flags":[]}]}]';
    expect(parseKernelRoutes(v4, 4)).toEqual({
      '10.200.0.10/32': ['192.168.100.2', '192.168.100.3'],
      '10.200.0.11/32': ['192.168.100.4'],
    });
    expect(parseKernelRoutes(v6, 6)).toEqual({ 'fd00:200::10/128': ['fd00:100::2', 'fd00:100::4'] });
  });
});

test('nameByNeighbours names link-local next hops by the MAC they share with a node address', () => {
  const neigh = JSON.stringify([
    { dst: '192.168.100.2', dev: 'lan0', lladdr: '76:c9:b1:7a:0d:76', state: ['REACHABLE'] },
    { dst: 'fe80::74c9:b1ff:fe7a:d76', dev: 'lan0', lladdr: '76:C9:B1:7A:0D:76', state: ['STALE'] },
    { dst: '192.168.100.4', dev: 'lan0', lladdr: 'ea:9d:43:f6:8e:5d', state: ['REACHABLE'] },
    { dst: 'fe80::e89d:43ff:fef6:8e5d', dev: 'lan0', lladdr: 'ea:9d:43:f6:8e:5d', state: ['STALE'] },
    { dst: 'fe80::1', dev: 'other0', lladdr: '76:c9:b1:7a:0d:76', state: ['STALE'] },
    { dst: '192.168.100.9', dev: 'lan0', state: ['FAILED'] },
  ]);
  expect(nameByNeighbours({ '192.168.100.2': 'n1', '192.168.100.4': 'n3' }, neigh)).toEqual({
    '192.168.100.2': 'n1',
    'fe80::74c9:b1ff:fe7a:d76': 'n1',
    '192.168.100.4': 'n3',
    'fe80::e89d:43ff:fef6:8e5d': 'n3',
  });
});

test('countAnswers counts node names and failed requests', () => {
  expect(countAnswers(['n1', 'n2', '-', 'n1', ''])).toEqual({ n1: 2, n2: 1, '(failed)': 2 });
  expect(urlFor('fd00::1', 80)).toBe('http://[fd00::1]:80/');
});

describe('samples', () => {
  const plan = planLab({ ...DEFAULT_OPTIONS, nodes: 3 }, '10.254.1.0/24');

  test('ServiceGroups pass the ServiceGroup validator: local on the LAN, virtual outside it', () => {
    const groups = sampleServiceGroups(plan, 'purelb');
    for (const g of groups) expect(validateObject(g)).toEqual([]);
    expect(groups.map((g) => g.metadata!.name)).toEqual(['lan', 'virtual']);
    expect((groups[0]!.spec as { local: { v4pools: unknown[] } }).local.v4pools).toEqual([
      { subnet: '192.168.100.0/24', pool: '192.168.100.247-192.168.100.254', aggregation: 'default' },
    ]);
  });

  test('every kind of Service is there; ETP Local has endpoints on a real subset', () => {
    const s = sampleServices(plan);
    expect(s.map((x) => [x.name, x.etp, x.families.join('+'), x.endpointNodes.length])).toEqual([
      ['web', 'Cluster', 'IPv4', 3],
      ['web-local', 'Local', 'IPv4+IPv6', 2],
      ['shared-a', 'Cluster', 'IPv4', 3],
      ['shared-b', 'Cluster', 'IPv4', 3],
      ['dual', 'Cluster', 'IPv4+IPv6', 3],
      ['lan-web', 'Cluster', 'IPv4+IPv6', 3],
    ]);
    const shared = s.filter((x) => x.sharedKey).map((x) => serviceObject(x));
    expect(shared.map((o) => (o.metadata!.annotations as Record<string, string>)['purelb.io/allow-shared-ip'])).toEqual(
      ['shared', 'shared'],
    );
    expect(shared.map((o) => (o.spec as { ports: { port: number }[] }).ports[0]!.port)).toEqual([80, 8080]);
  });

  test('EndpointSlices: one per family, endpoint address = node LAN address, nodeName set', () => {
    const dual = sampleServices(plan).find((x) => x.name === 'dual')!;
    const slices = endpointSlices(plan, dual, [0, 2]);
    expect(
      slices.map((x) => [
        x.metadata!.name,
        x.addressType,
        (x.endpoints as { addresses: string[]; nodeName: string }[]).map((e) => `${e.nodeName}=${e.addresses[0]}`),
      ]),
    ).toEqual([
      ['dual-ipv4', 'IPv4', ['plab-node1=192.168.100.2', 'plab-node3=192.168.100.4']],
      ['dual-ipv6', 'IPv6', ['plab-node1=fd00:100::2', 'plab-node3=fd00:100::4']],
    ]);
    expect(slices[0]!.metadata!.labels).toMatchObject({ 'kubernetes.io/service-name': 'dual' });
  });
});
