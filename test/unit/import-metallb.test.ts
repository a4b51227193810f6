// The MetalLB importer on configurations written in the shapes MetalLB documents: pools become local or
// virtual ServiceGroups by the node subnets, BGP objects become RouterConfigs, Service annotations
// become PureLB's, and everything without an equivalent is reported with object, field and reason.
import { describe, expect, test } from '@jest/globals';
import { loadAll } from 'js-yaml';
import { parseCIDR, type CIDR } from '../../src/api/ip.ts';
import { validateObjects } from '../../src/api/validate.ts';
import { parseRouterConfig } from '../../src/api/validate-routerconfig.ts';
import { parseServiceGroup } from '../../src/api/validate-servicegroup.ts';
import { anySelectorMatches } from '../../src/model/node-selector.ts';
import { prefixAdvertisements, routeAttributes } from '../../src/routing/attributes.ts';
import { durationSeconds } from '../../src/import/metallb-bgp.ts';
import { importMetalLB, type MetalLBOptions } from '../../src/import/metallb.ts';
import { formatUnmapped, type SourceObject } from '../../src/import/report.ts';

const docs = (yaml: string) => loadAll(yaml) as SourceObject[];
const cidrs = (...t: string[]) => t.map((x) => parseCIDR(x) as CIDR);
const run = (yaml: string, opts: Partial<MetalLBOptions> = {}) => {
  const r = importMetalLB(docs(yaml), { namespace: 'purelb', nodeSubnets: [], ...opts });
  return { ...r, report: r.unmapped.map(formatUnmapped) };
};
const byName = (objs: readonly { metadata?: { name?: string } }[], name: string) =>
  objs.find((o) => o.metadata?.name === name) as { spec: Record<string, any> } | undefined;

const POOLS = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.168.10.240-192.168.10.250, 'fd00:10::f0 - fd00:10::ff']
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: routed, namespace: metallb-system}
spec:
  addresses: [172.31.100.7/24, 10.9.0.5/32]
  autoAssign: false
`;

describe('IPAddressPool', () => {
  test('a range inside a --node-subnet is local (subnet = node subnet); others virtual with host aggregation', () => {
    const r = run(POOLS, { nodeSubnets: cidrs('192.168.10.0/24', 'fd00:10::/64'), defaultPool: 'lan' });
    expect(r.objects).toEqual([
      {
        apiVersion: 'purelb.io/v1',
        kind: 'ServiceGroup',
        metadata: { name: 'default', namespace: 'purelb' },
        spec: {
          local: {
            v4pools: [{ pool: '192.168.10.240-192.168.10.250', subnet: '192.168.10.0/24', aggregation: 'default' }],
            v6pools: [{ pool: 'fd00:10::f0-fd00:10::ff', subnet: 'fd00:10::/64', aggregation: 'default' }],
          },
        },
      },
      {
        apiVersion: 'purelb.io/v1',
        kind: 'ServiceGroup',
        metadata: { name: 'routed', namespace: 'purelb' },
        spec: {
          local: {
            // a MetalLB CIDR is its whole network, whatever host bits are written
            v4pools: [
              { pool: '172.31.100.0/24', subnet: '172.31.100.0/24', aggregation: '/32' },
              { pool: '10.9.0.5/32', subnet: '10.9.0.5/32', aggregation: '/32' },
            ],
          },
          autoAssign: false,
        },
      },
    ]);
    // lan is the default group; routed keeps autoAssign false (reserved for Services that name it)
    expect(r.report).toEqual([]);
    expect(validateObjects(r.objects)).toEqual([]);
  });

  test('node subnets come from Nodes (InternalIP, /24 and /64 assumed, noted) when no --node-subnet holds them', () => {
    const nodes = `
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: n1}
  status: {addresses: [{type: InternalIP, address: 192.168.10.11}, {type: InternalIP, address: 'fd00:10::11'}, {type: ExternalIP, address: 172.31.100.9}]}
`;
    const r = importMetalLB([...docs(POOLS), ...(docs(nodes)[0] as { items: SourceObject[] }).items], {
      namespace: 'purelb',
      nodeSubnets: [],
      defaultPool: 'lan',
    });
    expect((r.objects[0] as any).spec.local.v4pools[0].subnet).toBe('192.168.10.0/24');
    expect((r.objects[1] as any).spec.local.v4pools[0].aggregation).toBe('/32'); // ExternalIP is not a LAN subnet
    expect(r.notes).toEqual([
      'node subnet 192.168.10.0/24 assumed from Node n1 InternalIP 192.168.10.11 (a Node does not record its prefix; give --node-subnet to set it)',
      'node subnet fd00:10::/64 assumed from Node n1 InternalIP fd00:10::11 (a Node does not record its prefix; give --node-subnet to set it)',
    ]);
    // an explicit subnet that holds the node address wins over the assumed /24
    const wide = importMetalLB([...docs(POOLS), ...(docs(nodes)[0] as { items: SourceObject[] }).items], {
      namespace: 'purelb',
      nodeSubnets: cidrs('192.168.8.0/22'),
      defaultPool: 'lan',
    });
    expect((wide.objects[0] as any).spec.local.v4pools[0].subnet).toBe('192.168.8.0/22');
  });

  test('serviceAllocation keeps its names; an auto-assign pool listing namespaces becomes their default; priority, avoidBuggyIPs and straddling ranges are reported', () => {
    const r = run(
      `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: shop, namespace: metallb-system}
spec:
  addresses: [10.20.0.0/23, 192.168.10.250-192.168.11.5, 10.30.0.0/32]
  avoidBuggyIPs: true
  serviceAllocation:
    priority: 50
    namespaces: [shop]
`,
      { nodeSubnets: cidrs('192.168.10.0/24') },
    );
    expect(byName(r.objects, 'shop')!.spec.local.v4pools).toEqual([
      { pool: '10.20.0.1-10.20.1.254', subnet: '10.20.0.0/23', aggregation: '/32' },
    ]);
    expect(byName(r.objects, 'shop')!.spec.serviceAllocation).toEqual({ namespaces: ['shop'], namespaceDefault: true });
    expect(validateObjects(r.objects)).toEqual([]);
    expect(r.report).toEqual([
      'IPAddressPool metallb-system/shop: spec.addresses[0]: avoidBuggyIPs: the range spans several /24s; its inner .0 and .255 addresses stay in the pool (a ServiceGroup pool is one contiguous range): split the pool to exclude them',
      'IPAddressPool metallb-system/shop: spec.addresses[1]: 192.168.10.250-192.168.11.5 lies partly inside node subnet 192.168.10.0/24: split it into the part inside (local) and the part outside (virtual); not mapped',
      'IPAddressPool metallb-system/shop: spec.addresses[2]: avoidBuggyIPs leaves no address in this entry; not mapped',
      'IPAddressPool metallb-system/shop: spec.serviceAllocation.priority: not mapped: there is no priority among groups; a Service that names no group gets its namespace default group (namespaceDefault), else "default"',
    ]);
  });

  test('selectors are copied; a second auto-assign pool listing a namespace is not its default (reported)', () => {
    const r = run(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec:
  addresses: [10.1.0.0/24]
  serviceAllocation:
    namespaces: [shop]
    namespaceSelectors: [{matchLabels: {team: shop}}]
    serviceSelectors: [{matchExpressions: [{key: tier, operator: In, values: [web]}]}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b, namespace: metallb-system}
spec:
  addresses: [10.2.0.0/24]
  serviceAllocation: {namespaces: [shop, web]}
`);
    expect(byName(r.objects, 'a')!.spec.serviceAllocation).toEqual({
      namespaces: ['shop'],
      namespaceSelectors: [{ matchLabels: { team: 'shop' } }],
      serviceSelectors: [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] }],
      namespaceDefault: true,
    });
    expect(byName(r.objects, 'b')!.spec.serviceAllocation).toEqual({ namespaces: ['shop', 'web'] });
    expect(r.report).toEqual([
      'IPAddressPool metallb-system/b: spec.serviceAllocation.namespaces: shop (already the default of a): a namespace has one default group, so this group is not a namespace default (Services name it with purelb.io/service-group)',
    ]);
    expect(validateObjects(r.objects)).toEqual([]);
  });

  test('overlapping pools are not emitted: the project would reject them, and the report says why', () => {
    const r = run(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: [10.0.0.0/24], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b, namespace: metallb-system}
spec: {addresses: [10.0.0.128/25], autoAssign: false}
`);
    expect(r.objects.map((o) => o.metadata?.name)).toEqual(['a']);
    expect(r.report).toEqual([
      expect.stringMatching(
        /^ServiceGroup purelb\/b: spec\.local\.v4pools\[0\]\.pool: not emitted: the project would reject it \(.*overlaps 10\.0\.0\.0\/24/,
      ),
    ]);
  });
});

describe('L2Advertisement', () => {
  test('a local pool needs nothing; an L2 pool off the node subnets and interfaces are reported', () => {
    const l2 = `
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec:
  ipAddressPools: [lan]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2-routed, namespace: metallb-system}
spec:
  ipAddressPools: [routed, gone]
  nodeSelectors: [{matchLabels: {l2: 'yes'}}]
  interfaces: [eth1]
`;
    const r = run(POOLS + l2, { nodeSubnets: cidrs('192.168.10.0/24', 'fd00:10::/64'), defaultPool: 'lan' });
    expect(r.report).toEqual([
      'L2Advertisement metallb-system/l2-routed: spec.ipAddressPools[1]: pool "gone" is not in the input (or was not mapped)',
      "L2Advertisement metallb-system/l2-routed: spec: pool routed range 172.31.100.0/24 is announced with L2 but lies in no known node subnet, so it became a virtual (routed) pool; give --node-subnet with the nodes' LAN to make it local",
      "L2Advertisement metallb-system/l2-routed: spec: pool routed range 10.9.0.5/32 is announced with L2 but lies in no known node subnet, so it became a virtual (routed) pool; give --node-subnet with the nodes' LAN to make it local",
      'L2Advertisement metallb-system/l2-routed: spec.interfaces: not mapped: local addresses go on the LBNodeAgent\'s localint interface (default: the default-route interface); set localint to a regular expression such as "^(eth1)$"',
    ]);
  });
});

const BGP = `
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-a, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 172.30.0.1
  peerPort: 1179
  holdTime: 1m30s
  keepaliveTime: 30s
  ebgpMultiHop: true
  enableGracefulRestart: true
  bfdProfile: fast
  passwordSecret: {name: tor-md5, namespace: purelb}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack1-v6, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64501
  peerAddress: 'fd00:30::1'
  nodeSelectors: [{matchExpressions: [{key: rack, operator: In, values: [r1]}]}]
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: routed, namespace: metallb-system}
spec:
  ipAddressPools: [routed]
  communities: [65000:100, edge]
  localPref: 150
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: names, namespace: metallb-system}
spec:
  communities: [{name: edge, value: '65000:200'}]
`;

describe('BGPPeer, BGPAdvertisement, BFDProfile, Community', () => {
  test('one RouterConfig per node selector; the specific one also carries the all-node peers', () => {
    const r = run(POOLS + BGP, {
      nodeSubnets: cidrs('192.168.10.0/24', 'fd00:10::/64'),
      defaultPool: 'lan',
      daemon: 'frr',
    });
    expect(r.report).toEqual([]);
    const torA = {
      address: '172.30.0.1',
      asn: 64500,
      port: 1179,
      holdTime: 90,
      keepaliveTime: 30,
      multihop: 255,
      gracefulRestart: true,
      passwordSecretRef: { name: 'tor-md5', key: 'password' },
      bfd: true,
      description: 'from MetalLB BGPPeer tor-a',
    };
    const bgp = { localASN: 64512, communities: ['65000:100', '65000:200'], localPref: 150 };
    expect(byName(r.objects, 'metallb')!.spec).toEqual({
      daemon: 'frr',
      protocol: 'bgp',
      bgp: { ...bgp, peers: [torA] },
    });
    expect(byName(r.objects, 'metallb-rack1-v6')!.spec).toEqual({
      nodeSelector: { rack: 'r1' },
      daemon: 'frr',
      protocol: 'bgp',
      bgp: {
        ...bgp,
        peers: [torA, { address: 'fd00:30::1', asn: 64501, description: 'from MetalLB BGPPeer rack1-v6' }],
      },
    });
  });

  test('what a RouterConfig cannot say is reported; gobgp has no BFD', () => {
    const r = run(
      `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: routed, namespace: metallb-system}
spec: {addresses: [172.31.100.0/24], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: quiet, namespace: metallb-system}
spec: {addresses: [172.31.101.0/24], autoAssign: false}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p1, namespace: metallb-system}
spec:
  myASN: 64512
  dynamicASN: external
  peerAddress: 172.30.0.1
  password: secret
  holdTime: 0s
  bfdProfile: slow
  vrf: red
  passwordSecret: {name: md5}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p2, namespace: metallb-system}
spec:
  myASN: 64513
  peerASN: 64500
  peerAddress: 172.30.0.2
  holdTime: 0s
  keepaliveTime: 1.5s
  bfdProfile: slow
  sourceAddress: 172.30.0.10
  nodeSelectors: [{matchLabels: {a: x}}, {matchLabels: {b: y}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p3, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.3}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: slow, namespace: metallb-system}
spec: {detectMultiplier: 5}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: agg, namespace: metallb-system}
spec:
  ipAddressPools: [routed]
  aggregationLength: 24
  peers: [p3]
  communities: ['large:1:2:3', unknown-alias, 65000:70000]
`,
      { daemon: 'gobgp' },
    );
    expect(r.report).toEqual([
      'BGPPeer metallb-system/p1: spec.dynamicASN: not mapped: a RouterConfig peer needs a fixed asn; set peerASN',
      'BGPPeer metallb-system/p1: spec.vrf: not mapped: VRFs are not supported; peers are reached in the default table',
      'BGPPeer metallb-system/p1: spec: needs peerAddress, peerASN and myASN to become a RouterConfig peer; not mapped',
      'BGPPeer metallb-system/p2: spec.sourceAddress: not mapped: the daemon picks the source address from the route to the peer',
      'BGPPeer metallb-system/p2: spec.nodeSelectors: 2 selectors (any of them) cannot be expressed: a RouterConfig selects nodes with one label map; only nodeSelectors[0] is used',
      'BGPPeer metallb-system/p2: spec.holdTime: 0 (no keepalives) is not supported: holdTime is 3..65535 s; not mapped (default 90 s)',
      'BGPPeer metallb-system/p2: spec.keepaliveTime: 1.5s is not a whole number of seconds; not mapped (default used)',
      'BGPPeer metallb-system/p2: spec.bfdProfile: not mapped: GoBGP has no BFD; use --daemon bird or frr for BFD',
      "BFDProfile metallb-system/slow: spec.detectMultiplier: not mapped: a RouterConfig peer has bfd on or off only; the daemon's default BFD timers apply",
      'BGPAdvertisement metallb-system/agg: spec.aggregationLength: 24 not mapped: set aggregation: /N on the pools of the imported ServiceGroup (the prefix the agent places and the daemons advertise)',
      'BGPAdvertisement metallb-system/agg: spec.peers: not mapped: a RouterConfig advertises every virtual address to all its peers',
      'BGPAdvertisement metallb-system/agg: spec.communities[1]: community alias "unknown-alias" is not defined by a Community in the input; not mapped',
      'BGPAdvertisement metallb-system/agg: spec.communities[2]: every part of 65000:70000 must be 0..65535; not mapped',
      'BGPAdvertisement metallb-system/agg: spec: communities/localPref not mapped for pool routed: they go with its aggregated route (/24), which is not imported; the host routes are sent without them',
      'IPAddressPool metallb-system/quiet: spec: no BGPAdvertisement selects this pool, so MetalLB did not advertise it; a RouterConfig advertises every virtual address',
      'BGPPeer metallb-system/p3: spec.myASN: 64512 differs from 64513 of the other peers on the same nodes; a RouterConfig has one localASN; not mapped there',
    ]);
    expect(byName(r.objects, 'metallb')!.spec.bgp.peers.map((p: { address: string }) => p.address)).toEqual([
      '172.30.0.3',
    ]);
    expect(byName(r.objects, 'metallb-p2')!.spec).toEqual({
      nodeSelector: { a: 'x' },
      daemon: 'gobgp',
      protocol: 'bgp',
      bgp: {
        localASN: 64513,
        peers: [{ address: '172.30.0.2', asn: 64500, description: 'from MetalLB BGPPeer p2' }],
      },
    });
    expect(validateObjects(r.objects)).toEqual([]);
  });

  test('Go durations', () => {
    expect(durationSeconds('90s')).toBe(90);
    expect(durationSeconds('1m30s')).toBe(90);
    expect(durationSeconds('1h')).toBe(3600);
    expect(durationSeconds('1500ms')).toBe('1500ms is not a whole number of seconds');
    expect(durationSeconds('90')).toBe('"90" is not a duration like "90s"');
  });
});

const pool = (name: string, addresses: string, labels = '{}') => `
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: ${name}, namespace: metallb-system, labels: ${labels}}
spec: {addresses: [${addresses}], autoAssign: false}
`;
const peer = (asn: number) => `
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: ${asn}, peerAddress: 172.30.0.1}
`;
const ad = (kind: string, name: string, spec: string) => `
---
apiVersion: metallb.io/v1beta1
kind: ${kind}
metadata: {name: ${name}, namespace: metallb-system}
spec: ${spec}
`;

describe('BGPAdvertisement attributes per pool', () => {
  test("pools with different communities/localPref get one entry each, selecting the pool's group; what the daemons send follows", () => {
    const r = run(
      pool('gold', '172.31.1.0/24') +
        pool('silver', '172.31.2.0/24', '{tier: silver}') +
        pool('bronze', '172.31.3.0/24') +
        peer(64512) +
        ad(
          'BGPAdvertisement',
          'gold',
          "{ipAddressPools: [gold], communities: ['65000:100', 'large:64512:1:2'], localPref: 200}",
        ) +
        ad(
          'BGPAdvertisement',
          'tiers',
          '{ipAddressPoolSelectors: [{matchLabels: {tier: silver}}], communities: [edge], localPref: 100}',
        ) +
        ad('BGPAdvertisement', 'extra', "{ipAddressPools: [silver], communities: ['65000:300']}") +
        ad('BGPAdvertisement', 'plain', '{ipAddressPools: [bronze]}') +
        // the aggregate toward a transit (not imported): its community must not land on the host routes
        ad(
          'BGPAdvertisement',
          'transit',
          "{ipAddressPools: [gold], aggregationLength: 24, communities: ['65000:999']}",
        ) +
        ad('Community', 'names', "{communities: [{name: edge, value: '65000:200'}]}"),
      { daemon: 'bird' },
    );
    expect(r.report).toEqual([
      'BGPAdvertisement metallb-system/transit: spec.aggregationLength: 24 not mapped: set aggregation: /N on the pools of the imported ServiceGroup (the prefix the agent places and the daemons advertise)',
      'BGPAdvertisement metallb-system/transit: spec: communities/localPref not mapped for pool gold: they go with its aggregated route (/24), which is not imported; the host routes are sent without them',
    ]);
    expect(validateObjects(r.objects)).toEqual([]);
    const spec = byName(r.objects, 'metallb')!.spec;
    // silver carries the communities of both advertisements that select it, as MetalLB sends them
    expect(spec.bgp).toEqual({
      localASN: 64512,
      peers: [{ address: '172.30.0.1', asn: 64512, description: 'from MetalLB BGPPeer tor' }],
      advertisements: [
        { name: 'gold', serviceGroups: ['gold'], communities: ['65000:100', 'large:64512:1:2'], localPref: 200 },
        { name: 'tiers-extra', serviceGroups: ['silver'], communities: ['65000:200', '65000:300'], localPref: 100 },
      ],
    });
    // what the routing side makes of it for a Service of each group
    const bgp = parseRouterConfig(byName(r.objects, 'metallb')).config!.bgp!;
    const decided = prefixAdvertisements(bgp, {
      '172.31.1.5/32': [{ key: 'shop/a', labels: {}, groups: ['gold'] }],
      '172.31.2.5/32': [{ key: 'shop/b', labels: {}, groups: ['silver'] }],
      '172.31.3.5/32': [{ key: 'shop/c', labels: {}, groups: ['bronze'] }],
    });
    const sent = (prefix: string) => routeAttributes(bgp, decided.get(prefix));
    expect(sent('172.31.1.5/32')).toEqual({
      communities: ['65000:100'],
      largeCommunities: ['64512:1:2'],
      localPref: 200,
      asPathPrepend: 0,
    });
    expect(sent('172.31.2.5/32')).toEqual({
      communities: ['65000:200', '65000:300'],
      largeCommunities: [],
      localPref: 100,
      asPathPrepend: 0,
    });
    expect(sent('172.31.3.5/32')).toEqual({ communities: [], largeCommunities: [], asPathPrepend: 0 });
  });

  test('every advertised pool with the same standard attributes: config-wide values', () => {
    const r = run(
      pool('gold', '172.31.1.0/24') +
        pool('silver', '172.31.2.0/24') +
        peer(64512) +
        ad('BGPAdvertisement', 'all', "{communities: ['65000:100'], localPref: 150}"),
      { daemon: 'frr' },
    );
    expect(r.report).toEqual([]);
    expect(byName(r.objects, 'metallb')!.spec.bgp).toEqual({
      localASN: 64512,
      peers: [{ address: '172.30.0.1', asn: 64512, description: 'from MetalLB BGPPeer tor' }],
      communities: ['65000:100'],
      localPref: 150,
    });
  });

  test('two localPrefs for one pool are reported (the first kept); eBGP-only RouterConfigs leave localPref out (noted)', () => {
    const r = run(
      pool('gold', '172.31.1.0/24') +
        pool('silver', '172.31.2.0/24') +
        peer(64500) +
        ad('BGPAdvertisement', 'a', "{ipAddressPools: [gold], communities: ['65000:1'], localPref: 100}") +
        ad('BGPAdvertisement', 'b', '{ipAddressPools: [gold], localPref: 200}') +
        ad('BGPAdvertisement', 'c', '{ipAddressPools: [silver], localPref: 50}'),
      { daemon: 'gobgp' },
    );
    expect(r.report).toEqual([
      'BGPAdvertisement metallb-system/b: spec.localPref: 200 not mapped for pool gold: a route carries one LOCAL_PREF, and BGPAdvertisement metallb-system/a gives it 100',
    ]);
    expect(r.notes).toEqual([
      'RouterConfig purelb/metallb: advertisement a-b (from BGPAdvertisement a, b) leaves out localPref 100: every peer is eBGP and LOCAL_PREF goes to iBGP peers only, as in MetalLB',
      'RouterConfig purelb/metallb: advertisement c (from BGPAdvertisement c) leaves out localPref 50: every peer is eBGP and LOCAL_PREF goes to iBGP peers only, as in MetalLB',
    ]);
    expect(byName(r.objects, 'metallb')!.spec.bgp.advertisements).toEqual([
      { name: 'a-b', serviceGroups: ['gold'], communities: ['65000:1'] },
    ]);
    expect(validateObjects(r.objects)).toEqual([]);
  });

  test('a tenth distinct set of attributes is reported: a RouterConfig holds at most 9 entries', () => {
    const n = [...Array(10).keys()].map((i) => i + 1);
    const r = run(
      n.map((i) => pool(`p${i}`, `172.31.${i}.0/24`)).join('') +
        peer(64512) +
        n
          .map((i) => ad('BGPAdvertisement', `a${i}`, `{ipAddressPools: [p${i}], communities: ['65000:${i}']}`))
          .join(''),
      { daemon: 'frr' },
    );
    expect(r.report).toEqual([
      'IPAddressPool metallb-system/p10: spec: its BGP communities/localPref would need spec.bgp.advertisements entry 10, and a RouterConfig has at most 9; not mapped',
    ]);
    const entries = byName(r.objects, 'metallb')!.spec.bgp.advertisements as {
      name: string;
      serviceGroups: string[];
    }[];
    expect(entries.map((e) => `${e.name}:${e.serviceGroups.join()}`)).toEqual(n.slice(0, 9).map((i) => `a${i}:p${i}`));
    expect(validateObjects(r.objects)).toEqual([]);
  });
});

describe('advertisement nodeSelectors', () => {
  const groupConfig = (objects: readonly object[], name: string) => parseServiceGroup(byName(objects, name)).config!;

  test("the selectors of the advertisements that select a pool become its group's nodeSelectors (any of them); what is not exact is reported", () => {
    const r = run(
      pool('lan', '192.168.10.240-192.168.10.250') +
        pool('edge', '172.31.1.0/24') +
        pool('open', '172.31.2.0/24') +
        pool('split', '172.31.3.0/24') +
        pool('mixed', '192.168.10.200-192.168.10.209, 172.31.4.0/24') +
        pool('odd', '192.168.10.100-192.168.10.109') +
        pool('wide', '172.31.5.0/24') +
        peer(64500) +
        ad(
          'BGPAdvertisement',
          'w1',
          "{ipAddressPools: [wide], nodeSelectors: [{matchLabels: {zone: a}}], communities: ['65000:7']}",
        ) +
        ad('BGPAdvertisement', 'w2', '{ipAddressPools: [wide]}') +
        ad('L2Advertisement', 'zone-a', '{ipAddressPools: [lan, mixed], nodeSelectors: [{matchLabels: {zone: a}}]}') +
        ad(
          'L2Advertisement',
          'zone-b',
          '{ipAddressPools: [lan], nodeSelectors: [{matchExpressions: [{key: zone, operator: In, values: [b]}]}]}',
        ) +
        ad(
          'L2Advertisement',
          'bad',
          '{ipAddressPools: [odd], nodeSelectors: [{matchExpressions: [{key: zone, operator: Gt, values: ["1"]}]}]}',
        ) +
        ad(
          'BGPAdvertisement',
          'edge',
          "{ipAddressPools: [edge, mixed], nodeSelectors: [{matchLabels: {edge: 'true'}}]}",
        ) +
        ad('BGPAdvertisement', 'rack', '{ipAddressPools: [open], nodeSelectors: [{matchLabels: {rack: r1}}]}') +
        ad('BGPAdvertisement', 'anywhere', '{ipAddressPools: [open]}') +
        ad(
          'BGPAdvertisement',
          's1',
          "{ipAddressPools: [split], nodeSelectors: [{matchLabels: {zone: a}}], communities: ['65000:1']}",
        ) +
        ad(
          'BGPAdvertisement',
          's2',
          "{ipAddressPools: [split], nodeSelectors: [{matchLabels: {zone: b}}], communities: ['65000:2']}",
        ),
      { daemon: 'frr', nodeSubnets: cidrs('192.168.10.0/24') },
    );
    expect(r.report).toEqual([
      "L2Advertisement metallb-system/zone-a: spec: pool mixed range 172.31.4.0/24 is announced with L2 but lies in no known node subnet, so it became a virtual (routed) pool; give --node-subnet with the nodes' LAN to make it local",
      'BGPAdvertisement metallb-system/edge: spec: pool mixed range 192.168.10.200-192.168.10.209 is on a node subnet: here it is announced with ARP/NDP by one node and not advertised over BGP',
      'L2Advertisement metallb-system/bad: spec.nodeSelectors[0].matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist, got "Gt"; not mapped (the pools it selects are announced from every node)',
      "IPAddressPool metallb-system/split: spec: its BGPAdvertisements select different nodes and send different communities/localPref/peers: MetalLB sent a node's routes with the attributes of the advertisements that select that node; here the same attributes go with the pool's routes from nodes matching {zone=a} or {zone=b}",
      'IPAddressPool metallb-system/mixed: spec: its L2Advertisements announce the local ranges from nodes matching {zone=a} and its BGPAdvertisements the virtual ranges from nodes matching {edge=true}; one ServiceGroup has one nodeSelectors: not mapped (every node announces); split the pool by kind of range to keep them',
      "IPAddressPool metallb-system/wide: spec: its BGPAdvertisements select different nodes and send different communities/localPref/peers: MetalLB sent a node's routes with the attributes of the advertisements that select that node; here the same attributes go with the pool's routes from every node",
    ]);
    expect(validateObjects(r.objects)).toEqual([]);
    expect(byName(r.objects, 'lan')!.spec.nodeSelectors).toEqual([
      { matchLabels: { zone: 'a' } },
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] },
    ]);
    expect(byName(r.objects, 'edge')!.spec.nodeSelectors).toEqual([{ matchLabels: { edge: 'true' } }]);
    for (const unrestricted of ['open', 'mixed', 'odd', 'wide'])
      expect(byName(r.objects, unrestricted)!.spec.nodeSelectors).toBeUndefined();
    // which nodes announce, read back the way the agents read it
    const announces = (group: string, labels: Record<string, string>) =>
      anySelectorMatches(groupConfig(r.objects, group).nodeSelectors, labels);
    const zones: Record<string, string>[] = [{ zone: 'a' }, { zone: 'b' }, { zone: 'c' }, {}];
    expect(zones.map((l) => announces('lan', l))).toEqual([true, true, false, false]);
    expect([{ zone: 'a' }, { zone: 'b' }, { zone: 'c' }].map((l) => announces('split', l))).toEqual([
      true,
      true,
      false,
    ]);
    expect([{ rack: 'r2' }].map((l) => announces('open', l))).toEqual([true]);
  });
});

describe('Services', () => {
  const SVC = `
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations: {metallb.io/address-pool: lan, metallb.io/allow-shared-ip: front}
spec: {type: LoadBalancer}
status: {loadBalancer: {ingress: [{ip: 192.168.10.240}]}}
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: shop
  annotations: {metallb.universe.tf/loadBalancerIPs: '172.31.100.9 , fd00:10::f5', metallb.io/ip-allocated-from-pool: routed}
spec: {type: LoadBalancer}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: shop}
spec: {type: LoadBalancer, loadBalancerIP: 192.168.10.241}
---
apiVersion: v1
kind: Service
metadata:
  name: odd
  namespace: shop
  annotations: {metallb.io/loadBalancerIPs: '10.1.1.1,10.1.1.2', metallb.io/address-pool: nope, metallb.io/new-thing: x}
spec: {type: LoadBalancer, loadBalancerClass: metallb.io/metallb}
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: shop, annotations: {metallb.io/address-pool: lan}}
spec: {type: ClusterIP}
`;
  test('annotations map to purelb.io ones; held addresses are pinned; the rest is reported', () => {
    const r = run(POOLS + SVC, { nodeSubnets: cidrs('192.168.10.0/24', 'fd00:10::/64'), defaultPool: 'lan' });
    expect(r.servicePatches).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'web',
          namespace: 'shop',
          annotations: {
            'purelb.io/service-group': 'default',
            'purelb.io/allow-shared-ip': 'front',
            'purelb.io/addresses': '192.168.10.240',
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'db', namespace: 'shop', annotations: { 'purelb.io/addresses': '172.31.100.9,fd00:10::f5' } },
      },
    ]);
    expect(r.report).toEqual([
      'Service shop/odd: metadata.annotations[metallb.io/address-pool]: pool "nope" is not in the input (or was not mapped); not mapped',
      'Service shop/odd: metadata.annotations[metallb.io/new-thing]: unknown MetalLB annotation; not mapped',
      'Service shop/odd: spec.loadBalancerClass: "metallb.io/metallb" is immutable and not handled by the allocator (it handles no class or purelb.io/purelb): recreate the Service without it, or run the allocator with --lb-class metallb.io/metallb',
      'Service shop/odd: metadata.annotations[purelb.io/addresses]: purelb.io/addresses: 10.1.1.1 and 10.1.1.2 are both IPv4; give at most one address per family; not mapped',
    ]);
  });

  test('a pinned address in no imported pool is reported', () => {
    const r = run(POOLS + SVC.replace('172.31.100.9', '10.99.0.1'), { defaultPool: 'lan' });
    expect(r.report).toContain(
      'Service shop/db: metadata.annotations[purelb.io/addresses]: address 10.99.0.1,fd00:10::f5 lies in no imported ServiceGroup: the allocator will refuse it until a group holds it',
    );
  });
});

test('other MetalLB kinds and versions are reported, other objects noted as skipped', () => {
  const r = run(`
apiVersion: metallb.io/v1alpha1
kind: AddressPool
metadata: {name: old, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: old-peer, namespace: metallb-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: metallb-system}
`);
  expect(r.report).toEqual([
    'AddressPool metallb-system/old: kind: metallb.io/v1alpha1 AddressPool is not imported (only IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile, Community)',
    'BGPPeer metallb-system/old-peer: spec: not mapped: choose the routing daemon with --daemon bird|frr|gobgp',
  ]);
  expect(r.notes).toEqual([
    'skipped apps/v1 Deployment metallb-system/controller (not a MetalLB object, Node or Service)',
  ]);
});
