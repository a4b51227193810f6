// RouterConfig validation, node selection, BIRD reply parsing and GoBGP message building (pure parts).
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseRouterConfig, validateRouterConfig } from '../../src/api/validate-routerconfig.ts';
import type { RouteAttributes } from '../../src/routing/attributes.ts';
import { advertisedPrefixes } from '../../src/routing/advertiser.ts';
import { parseOspfNeighbors, parseProtocols } from '../../src/routing/bird/advertiser.ts';
import { parseBirdReply } from '../../src/routing/bird/control.ts';
import { hostStateLines } from '../../src/routing/frr/advertiser.ts';
import {
  listedPathAttributes,
  pathMessage,
  peerFingerprint,
  wantedPathAttributes,
} from '../../src/routing/gobgp/messages.ts';
import { selectRouterConfig } from '../../src/routing/select.ts';
import { buildNodeStatus, sameStatus } from '../../src/routing/status.ts';

const bgp = (peers: unknown[], extra: Record<string, unknown> = {}) => ({
  metadata: { name: 'r', namespace: 'purelb' },
  spec: { daemon: 'bird', protocol: 'bgp', bgp: { localASN: 65001, peers, ...extra } },
});
const fields = (obj: unknown) => validateRouterConfig(obj).map((p) => p.field);

describe('RouterConfig validation', () => {
  test('a full config normalises with defaults and canonical addresses', () => {
    const { config, problems } = parseRouterConfig(bgp([{ address: 'FD00:0::1', asn: 65000 }]));
    expect(problems).toEqual([]);
    expect(config).toEqual({
      nodeSelector: {},
      daemon: 'bird',
      protocol: 'bgp',
      bgp: {
        localASN: 65001,
        communities: [],
        peers: [
          {
            address: 'fd00::1',
            family: 6,
            asn: 65000,
            port: 179,
            holdTime: 90,
            keepaliveTime: 30,
            bfd: false,
            gracefulRestart: false,
          },
        ],
      },
    });
  });

  test.each([
    [0, false],
    [1, true],
    [4294967294, true],
    [4294967295, false],
    [1.5, false],
    ['65000', false],
  ])('ASN %p valid=%p', (asn, ok) => {
    expect(fields(bgp([{ address: '10.0.0.1', asn }])).length === 0).toBe(ok);
    expect(fields(bgp([{ address: '10.0.0.1', asn: 65000 }], { localASN: asn })).length === 0).toBe(ok);
  });

  test.each(['010.0.0.1', '10.0.0.1/32', '1.2.3', 'fe80::1%eth0', 'x', '0x7f.0.0.1'])(
    'peer address %j is refused',
    (address) => {
      expect(fields(bgp([{ address, asn: 65000 }]))).toEqual(['spec.bgp.peers[0].address']);
    },
  );

  test('GoBGP has no OSPF and no BFD, and says so', () => {
    const [ospf] = validateRouterConfig({
      spec: { daemon: 'gobgp', protocol: 'ospf', ospf: { interfaces: ['eth0'] } },
    });
    expect(ospf).toMatchObject({ field: 'spec.protocol', message: expect.stringContaining('GoBGP has no OSPF') });
    const [bfd] = validateRouterConfig({
      spec: {
        daemon: 'gobgp',
        protocol: 'bgp',
        bgp: { localASN: 1, peers: [{ address: '10.0.0.1', asn: 2, bfd: true }] },
      },
    });
    expect(bfd).toMatchObject({ field: 'spec.bgp.peers[0].bfd', message: expect.stringContaining('GoBGP has no BFD') });
  });

  test('enums, timers, duplicates, families and bounded lengths', () => {
    expect(fields({ spec: { daemon: 'quagga', protocol: 'rip' } })).toEqual(['spec.daemon', 'spec.protocol']);
    expect(fields(bgp([{ address: '10.0.0.1', asn: 1, holdTime: 9, keepaliveTime: 9 }]))).toEqual([
      'spec.bgp.peers[0].keepaliveTime',
    ]);
    expect(
      fields(
        bgp([
          { address: '10.0.0.1', asn: 1 },
          { address: '10.0.0.1', asn: 2 },
        ]),
      ),
    ).toEqual(['spec.bgp.peers[1].address']);
    expect(fields(bgp([{ address: '10.0.0.1', asn: 1, families: ['ipv6'] }]))).toEqual([
      'spec.bgp.peers[0].families[0]',
    ]);
    expect(fields(bgp(Array.from({ length: 33 }, (_, i) => ({ address: `10.0.0.${i + 1}`, asn: 1 }))))).toEqual([
      'spec.bgp.peers',
    ]);
    expect(fields(bgp([{ address: '10.0.0.1', asn: 1 }], { communities: ['65536:1', 'no-export'] }))).toEqual([
      'spec.bgp.communities[0]',
      'spec.bgp.communities[1]',
    ]);
    expect(fields(bgp([]))).toEqual(['spec.bgp.peers']);
    expect(fields(bgp([{ address: '10.0.0.1', asn: 1 }], { routerID: 'fd00::1' }))).toEqual(['spec.bgp.routerID']);
    expect(
      fields({
        spec: {
          daemon: 'frr',
          protocol: 'ospf',
          ospf: { interfaces: ['eth0'], helloInterval: 10, deadInterval: 10, mode: 'nssa', area: -1 },
        },
      }),
    ).toEqual(['spec.ospf.area', 'spec.ospf.mode', 'spec.ospf.deadInterval']);
    expect(fields({ spec: { daemon: 'frr', protocol: 'ospf', ospf: { interfaces: ['eth0'] }, bgp: {} } })).toEqual([
      'spec.bgp',
    ]);
  });

  test('OSPF area numbers become dotted ids', () => {
    expect(
      parseRouterConfig({ spec: { daemon: 'bird', protocol: 'ospf', ospf: { area: 258, interfaces: ['eth0'] } } })
        .config?.ospf?.area,
    ).toBe('0.0.1.2');
  });

  test('every problem names the object and the field', () => {
    const [p] = validateRouterConfig({
      metadata: { name: 'edge', namespace: 'purelb' },
      spec: { daemon: 'bird', protocol: 'bgp' },
    });
    expect(p).toEqual({
      object: 'RouterConfig purelb/edge',
      field: 'spec.bgp',
      message: expect.stringContaining('localASN'),
    });
  });

  test('property: the validator never throws and any accepted peer address is canonical', () => {
    fc.assert(
      fc.property(fc.anything(), fc.string(), (junk, address) => {
        validateRouterConfig(junk);
        const { config } = parseRouterConfig(bgp([{ address, asn: 1 }]));
        if (config) expect(config.bgp!.peers[0]!.address).toMatch(/^[0-9a-f:.]+$/);
      }),
    );
  });
});

describe('node selection', () => {
  const rc = (name: string, nodeSelector?: Record<string, string>) => ({ metadata: { name }, spec: { nodeSelector } });
  test('the most specific matching selector wins, ties by name', () => {
    const items = [
      rc('all'),
      rc('rack-b', { rack: 'b' }),
      rc('z-rack-a', { rack: 'a' }),
      rc('a-rack-a', { rack: 'a' }),
      rc('rack-a-gpu', { rack: 'a', gpu: 'yes' }),
    ];
    expect(selectRouterConfig(items, { rack: 'a' })?.metadata.name).toBe('a-rack-a');
    expect(selectRouterConfig(items, { rack: 'a', gpu: 'yes' })?.metadata.name).toBe('rack-a-gpu');
    expect(selectRouterConfig(items, { rack: 'c' })?.metadata.name).toBe('all');
    expect(selectRouterConfig(items.slice(1), { rack: 'c' })).toBeUndefined();
  });
});

describe('BIRD control protocol', () => {
  test('coded lines, continuations and the final line', () => {
    const text =
      '2002-Name       Proto      Table      State  Since         Info\n1002-device1    Device     ---        up     05:16:45.108\n' +
      ' kube_lb    Direct     ---        up     05:16:45.108\n peer_1     BGP        ---        start  05:25:10.199  Active        Socket: Connection refused\n0000 \n';
    const reply = parseBirdReply(text)!;
    expect(reply.code).toBe(0);
    expect(parseProtocols(reply.lines.filter((l) => l.code === 1002).map((l) => l.text))).toEqual([
      { name: 'device1', proto: 'Device', state: 'up', info: '' },
      { name: 'kube_lb', proto: 'Direct', state: 'up', info: '' },
      { name: 'peer_1', proto: 'BGP', state: 'start', info: 'Active Socket: Connection refused' },
    ]);
    expect(parseBirdReply('1002-partial\n')).toBeUndefined();
    // real `show ospf neighbors ospf4` rows of BIRD 2.0.12 (1013)
    expect(
      parseOspfNeighbors('ospf4', [
        'ospf4:',
        'Router ID   \tPri\t     State     \tDTime\tInterface  Router IP',
        '192.168.11.1\t  1\tFull/PtP  \t 3.784\teth0       192.168.11.1',
      ]),
    ).toEqual([{ name: 'ospf4 192.168.11.1', state: 'Full/PtP', info: 'eth0 192.168.11.1' }]);
    expect(parseBirdReply('8002 Configuration file error\n')?.code).toBe(8002);
  });
});

test('host prefixes only, canonical and sorted', () => {
  // aggregation decides the prefix: /32 host routes, or one aggregate for several addresses of a /24
  expect(
    advertisedPrefixes([
      '10.96.0.10/32',
      'FD00:96:0::10/128',
      '10.0.0.5/24',
      '10.0.0.9/24',
      'fe80::1/64',
      'junk',
      '10.96.0.10/32',
    ]),
  ).toEqual(['10.0.0.0/24', '10.96.0.10/32', 'fd00:96::10/128']);
});

test('FRR host-state lines are mirrored, routing lines are not', () => {
  expect(
    hostStateLines(
      'frr version 8.4.4\nhostname vm\nno ip forwarding\nno ipv6 forwarding\nrouter bgp 1\n ip forwarding\n',
    ),
  ).toEqual(['hostname vm', 'no ip forwarding', 'no ipv6 forwarding']);
});

describe('GoBGP messages', () => {
  const cfg: RouteAttributes = { communities: ['65000:100'], largeCommunities: [], localPref: 200, asPathPrepend: 0 };
  test('IPv4 paths carry NEXT_HOP, IPv6 paths MP_REACH_NLRI; both unspecified next hops, origin IGP', () => {
    const v4 = pathMessage('10.96.0.10/32', cfg, 65001);
    expect(v4.family).toEqual({ afi: 'AFI_IP', safi: 'SAFI_UNICAST' });
    expect(v4.pattrs).toContainEqual({ '@type': 'type.googleapis.com/apipb.NextHopAttribute', next_hop: '0.0.0.0' });
    expect(v4.pattrs).toContainEqual({ '@type': 'type.googleapis.com/apipb.OriginAttribute', origin: 0 });
    expect(v4.pattrs).toContainEqual({
      '@type': 'type.googleapis.com/apipb.CommunitiesAttribute',
      communities: [65000 * 65536 + 100],
    });
    const v6 = pathMessage('fd00:96::10/128', cfg, 65001, true);
    expect(v6).toMatchObject({ family: { afi: 'AFI_IP6' }, is_withdraw: true });
    expect(v6.pattrs.find((a) => String(a['@type']).endsWith('MpReachNLRIAttribute'))).toMatchObject({
      next_hops: ['::'],
      nlris: [{ prefix: 'fd00:96::10', prefix_len: 128 }],
    });
  });

  test('peer fingerprints change with any peer setting or password', () => {
    const p = {
      address: '10.0.0.1',
      family: 4 as const,
      asn: 1,
      port: 179,
      holdTime: 9,
      keepaliveTime: 3,
      bfd: false,
      gracefulRestart: false,
    };
    const base = peerFingerprint(p, 65001, undefined);
    expect(peerFingerprint({ ...p }, 65001, undefined)).toBe(base);
    expect(peerFingerprint({ ...p, holdTime: 6 }, 65001, undefined)).not.toBe(base);
    expect(peerFingerprint(p, 65001, 'pw')).not.toBe(base);
  });

  test('a path as ListPath returns it matches the RouterConfig that made it (not re-sent), and only that one', () => {
    // what gobgpd lists for a path the backend added: the same attributes plus its own (AS_PATH, next hop)
    const listed = (c: RouteAttributes) => [
      ...pathMessage('10.96.0.10/32', c, 65001).pattrs,
      ...(c.asPathPrepend ? [] : [{ '@type': 'type.googleapis.com/apipb.AsPathAttribute', segments: [] }]),
    ];
    expect(listedPathAttributes(listed(cfg))).toBe(wantedPathAttributes(cfg));
    const plain: RouteAttributes = { communities: [], largeCommunities: [], asPathPrepend: 0 };
    expect(listedPathAttributes(listed(plain))).toBe(wantedPathAttributes(plain));
    expect(listedPathAttributes(undefined)).toBe(wantedPathAttributes(plain));
    expect(listedPathAttributes(listed(cfg))).not.toBe(wantedPathAttributes({ ...cfg, communities: ['65000:101'] }));
    expect(listedPathAttributes(listed(cfg))).not.toBe(wantedPathAttributes({ ...cfg, localPref: 100 }));
    expect(listedPathAttributes(listed(plain))).not.toBe(wantedPathAttributes(cfg));
    const rich: RouteAttributes = { ...cfg, largeCommunities: ['65001:7:8'], asPathPrepend: 2 };
    expect(listedPathAttributes(listed(rich))).toBe(wantedPathAttributes(rich));
    expect(listedPathAttributes(listed(rich))).not.toBe(wantedPathAttributes({ ...rich, asPathPrepend: 1 }));
    expect(listedPathAttributes(listed(rich))).not.toBe(wantedPathAttributes({ ...rich, largeCommunities: [] }));
    expect(pathMessage('10.96.0.10/32', rich, 65001).pattrs).toContainEqual({
      '@type': 'type.googleapis.com/apipb.AsPathAttribute',
      segments: [{ type: 'AS_SEQUENCE', numbers: [65001, 65001] }],
    });
    // the order of communities does not matter
    expect(wantedPathAttributes({ ...cfg, communities: ['1:2', '1:1'] })).toBe(
      wantedPathAttributes({ ...cfg, communities: ['1:1', '1:2'] }),
    );
  });
});

test('status entries: bounded lists, unchanged entries are recognised', () => {
  const now = new Date('2026-11-21T06:00:00Z');
  const advertised = Array.from({ length: 100 }, (_, i) => `10.96.0.${i}/32`);
  const s = buildNodeStatus({
    routerConfig: 'rc',
    daemon: 'bird',
    protocol: 'bgp',
    generation: 2,
    applied: { result: 'Applied', hash: 'sha256:x' },
    daemonStatus: { sessions: [], advertised },
    now,
  });
  expect(s).toMatchObject({ configHash: 'sha256:x', observedGeneration: 2, advertisedCount: 100 });
  expect(s.advertised).toHaveLength(64);
  expect(sameStatus(s, { ...s, updated: 'later' })).toBe(true);
  expect(sameStatus(s, { ...s, advertisedCount: 99 })).toBe(false);
  expect(sameStatus(s, { ...s, routerConfig: 'other' })).toBe(false);
});
