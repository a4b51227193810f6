import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parseUpOptions } from '../../src/cli/lab.ts';
import { DEFAULT_OPTIONS, pickManagementSubnet, planLab } from '../../src/lab/plan.ts';
import { labRouterConfig } from '../../src/lab/routerconfig.ts';
import { labTorSpec, renderTor, torDaemons, type TorSpec } from '../../src/lab/tor.ts';
import { validateObject } from '../../src/api/validate.ts';

const plan = (over = {}) => planLab({ ...DEFAULT_OPTIONS, ...over }, '10.254.7.0/24');

describe('planLab', () => {
  test('names everything from the lab name and takes node addresses from the LAN', () => {
    const p = plan({ name: 'x1', nodes: 3 });
    expect(p.torNetns).toBe('x1-tor');
    expect(p.clientNetns).toBe('x1-client');
    expect(p.nodes.map((n) => [n.name, n.netns, n.torPort, n.ipv4, n.ipv6, n.mgmt])).toEqual([
      ['x1-node1', 'x1-node1', 'x1-l1', '192.168.100.2', 'fd00:100::2', '10.254.7.2'],
      ['x1-node2', 'x1-node2', 'x1-l2', '192.168.100.3', 'fd00:100::3', '10.254.7.3'],
      ['x1-node3', 'x1-node3', 'x1-l3', '192.168.100.4', 'fd00:100::4', '10.254.7.4'],
    ]);
    expect(p.tor).toMatchObject({ ipv4: '192.168.100.1', ipv6: 'fd00:100::1' });
    expect(p.localPools).toEqual({ v4: '192.168.100.247-192.168.100.254', v6: 'fd00:100::f0-fd00:100::f7' });
    expect(p.mgmt).toEqual({ bridge: 'x1-mgmt', subnet: '10.254.7.0/24', host: '10.254.7.1', prefix: 24 });
    expect(p.mgmtPorts).toEqual(['x1-m1', 'x1-m2', 'x1-m3']);
    // interface names must fit IFNAMSIZ (15)
    for (const name of [p.mgmt.bridge, ...p.mgmtPorts, ...p.nodes.map((n) => n.torPort), p.tor.clientPort])
      expect(name.length).toBeLessThanOrEqual(15);
  });

  test('a LAN given with host bits set is normalised; IPv4-only LAN has no IPv6 anywhere', () => {
    const p = plan({ lan: { v4: '10.9.8.77/26' } });
    expect(p.lan).toEqual({ v4: '10.9.8.64/26' });
    expect(p.nodes[0]!.ipv6).toBeUndefined();
    expect(p.tor.ipv6).toBeUndefined();
    expect(p.localPools).toEqual({ v4: '10.9.8.119-10.9.8.126' });
  });

  test.each([
    [{ name: 'Bad' }, /--name/],
    [{ name: 'toolong1' }, /--name/],
    [{ nodes: 0 }, /--nodes 0/],
    [{ nodes: 17 }, /--nodes 17/],
    [{ nodeASN: 0 }, /--node-asn/],
    [{ torASN: 4294967295 }, /--tor-asn/],
    [{ daemon: 'gobgp', protocol: 'ospf' }, /GoBGP has no OSPF/],
    [{ lan: { v4: '10.0.0.0/29' } }, /too small/],
    [{ lan: { v4: '010.0.0.0/24' } }, /not an IPv4 CIDR/],
    [{ lan: { v4: '10.0.0.0/24', v6: '10.1.0.0/24' } }, /not an IPv6 CIDR/],
  ])('rejects %j naming the option', (over, message) => {
    expect(() => plan(over)).toThrow(message);
  });

  test('the management subnet avoids every host route', () => {
    expect(pickManagementSubnet(['192.0.2.0/24', '10.254.5.0/24', '10.254.6.7'], 5)).toBe('10.254.7.0/24');
    expect(() => pickManagementSubnet(['10.254.0.0/16'], 0)).toThrow(/no free \/24/);
  });
});

describe('ToR configuration', () => {
  const dryrun = (conf: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'labtor-'));
    try {
      writeFileSync(join(dir, 'frr.conf'), conf);
      return execFileSync('vtysh', ['--dryrun', '-f', join(dir, 'frr.conf')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test.each([
    ['bgp', false],
    ['bgp', true],
    ['ospf', false],
  ] as const)('%s (bfd %s) renders a config FRR itself accepts', (protocol, bfd) => {
    expect(() => dryrun(renderTor(labTorSpec(plan({ protocol, bfd }))))).not.toThrow();
  });

  // the test Topology's ToR: one link per node, fixed neighbours, a password (src/lab/topology/tor.ts)
  const p2p: TorSpec = { hostname: 't-tor', routerId: '192.168.11.1', v6: true };
  const bgp = {
    asn: 65000,
    peers: { 4: { neighbors: ['192.168.11.2', '192.168.12.2'] }, 6: { neighbors: ['fd00:11::2', 'fd00:12::2'] } },
    timers: { keepalive: 3, hold: 9, connect: 2 },
    password: 'secret',
  };
  const ospf = { interfaces: ['to-n1', 'to-n2'], pointToPoint: true, hello: 1, dead: 4, cost: 10 };

  test.each([
    ['bgp', { ...p2p, bgp }],
    ['ospf', { ...p2p, ospf }],
  ] as const)('point-to-point %s renders a config FRR itself accepts', (_, spec) => {
    expect(() => dryrun(renderTor(spec))).not.toThrow();
  });

  test('point-to-point: each node a neighbour of its family, OSPF links point-to-point in both versions', () => {
    const b = renderTor({ ...p2p, bgp }).split('\n');
    for (const line of [
      ' neighbor 192.168.12.2 peer-group NODES4',
      ' neighbor fd00:12::2 peer-group NODES6',
      ' neighbor NODES6 password secret',
      ' neighbor NODES4 timers connect 2',
    ]) {
      expect(b).toContain(line);
    }
    expect(renderTor({ ...p2p, ospf })).toContain(
      'interface to-n2\n ip ospf area 0.0.0.0\n ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n ip ospf cost 10\n ipv6 ospf6 area 0.0.0.0\n ipv6 ospf6 network point-to-point',
    );
    expect(torDaemons({ ...p2p, ospf })).toEqual(['ospfd', 'ospf6d']);
  });

  test('BGP: every LAN address is a dynamic eBGP peer, ECMP across ASNs, nothing sent back', () => {
    const conf = renderTor(labTorSpec(plan({ torASN: 65001 })));
    for (const line of [
      'router bgp 65001',
      ' bgp bestpath as-path multipath-relax',
      ' no bgp ebgp-requires-policy',
      ' bgp listen range 192.168.100.0/24 peer-group NODES4',
      ' bgp listen range fd00:100::/64 peer-group NODES6',
      '  maximum-paths 16',
      '  neighbor NODES4 route-map NOTHING out',
      '  neighbor NODES6 route-map NOTHING out',
    ]) {
      expect(conf.split('\n')).toContain(line);
    }
    expect(torDaemons(labTorSpec(plan()))).toEqual(['bgpd']);
    expect(torDaemons(labTorSpec(plan({ bfd: true })))).toEqual(['bgpd', 'bfdd']);
  });

  test('OSPF: area 0 on the LAN bridge, ToR is DR, IPv6 only with an IPv6 LAN', () => {
    const conf = renderTor(labTorSpec(plan({ protocol: 'ospf' })));
    expect(conf).toContain(
      'interface lan0\n ip ospf area 0.0.0.0\n ip ospf priority 255\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n',
    );
    expect(conf).toContain(' ipv6 ospf6 area 0.0.0.0\n ipv6 ospf6 priority 255');
    expect(renderTor(labTorSpec(plan({ protocol: 'ospf', lan: { v4: '10.1.0.0/24' } })))).not.toContain('ospf6');
    expect(torDaemons(labTorSpec(plan({ protocol: 'ospf' })))).toEqual(['ospfd', 'ospf6d']);
  });
});

describe('the lab RouterConfig', () => {
  test.each([
    ['bird', 'bgp'],
    ['bird', 'ospf'],
    ['frr', 'bgp'],
    ['frr', 'ospf'],
    ['gobgp', 'bgp'],
  ] as const)("%s/%s passes the RouterConfig validator and selects only this lab's nodes", (daemon, protocol) => {
    const rc = labRouterConfig(plan({ daemon, protocol, name: 'e2' }), 'purelb');
    expect(validateObject(rc)).toEqual([]);
    expect(rc.spec.nodeSelector).toEqual({ 'purelb.io/lab': 'e2' });
  });

  test('BGP peers are the ToR LAN addresses, one per family, with the ToR ASN', () => {
    const rc = labRouterConfig(plan({ torASN: 65010, nodeASN: 65020 }), 'purelb');
    expect(rc.spec.bgp).toMatchObject({
      localASN: 65020,
      peers: [
        { address: '192.168.100.1', asn: 65010, families: ['ipv4'] },
        { address: 'fd00:100::1', asn: 65010, families: ['ipv6'] },
      ],
    });
  });
});

describe('parseUpOptions', () => {
  test('defaults', () => {
    expect(parseUpOptions([])).toEqual(DEFAULT_OPTIONS);
  });
  test('every flag', () => {
    expect(
      parseUpOptions([
        '--name',
        'ab',
        '--nodes',
        '5',
        '--lan',
        '10.5.0.0/24',
        '--lan',
        'fd00:5::/64',
        '--daemon',
        'frr',
        '--protocol',
        'ospf',
        '--node-asn',
        '65100',
        '--tor-asn',
        '65200',
        '--no-samples',
        '--bfd',
      ]),
    ).toEqual({
      name: 'ab',
      nodes: 5,
      lan: { v4: '10.5.0.0/24', v6: 'fd00:5::/64' },
      daemon: 'frr',
      protocol: 'ospf',
      nodeASN: 65100,
      torASN: 65200,
      samples: false,
      bfd: true,
    });
    expect(parseUpOptions(['--lan', '10.5.0.0/24']).lan).toEqual({ v4: '10.5.0.0/24' });
  });
  test.each([
    [['--daemon', 'quagga'], /--daemon quagga: use one of bird, frr, gobgp/],
    [['--protocol', 'rip'], /--protocol rip/],
    [['--nodes', 'three'], /--nodes three/],
    [['--lan', 'fd00::/64'], /exactly one IPv4 CIDR/],
    [['--bogus'], /Unknown option/],
  ])('%j is refused', (argv, message) => {
    expect(() => parseUpOptions(argv)).toThrow(message);
  });
});
