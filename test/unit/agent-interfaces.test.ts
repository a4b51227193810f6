import { describe, expect, test } from '@jest/globals';
import { parseIP } from '../../src/api/ip.ts';
import {
  addressKey,
  localInterfaces,
  nodeSubnets,
  parseDefaultRoutesJson,
  parseIpAddrJson,
  localPlacer,
} from '../../src/agent/interfaces.ts';

// Shape of `ip -json address show` (iproute2 6.1), trimmed to the fields that matter.
const IP_ADDR = JSON.stringify([
  {
    ifindex: 1,
    ifname: 'lo',
    addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, valid_life_time: 4294967295 }],
  },
  {
    ifindex: 2,
    ifname: 'eth0',
    addr_info: [
      { family: 'inet', local: '192.168.1.10', prefixlen: 24, valid_life_time: 4294967295 },
      { family: 'inet', local: '192.168.1.200', prefixlen: 24, valid_life_time: 55 },
      { family: 'inet6', local: 'fd00:1:0:0::10', prefixlen: 64, valid_life_time: 4294967295 },
      { family: 'inet6', local: 'fd00:2::10', prefixlen: 64, tentative: true, valid_life_time: 4294967295 },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, valid_life_time: 4294967295 },
    ],
  },
  {
    ifindex: 3,
    ifname: 'eth1',
    addr_info: [{ family: 'inet', local: '10.0.5.2', prefixlen: 16, valid_life_time: 4294967295 }],
  },
  {
    ifindex: 4,
    ifname: 'kube-lb0',
    addr_info: [{ family: 'inet', local: '10.200.0.5', prefixlen: 24, valid_life_time: 4294967295 }],
  },
]);

const links = parseIpAddrJson(IP_ADDR);
const ip = (t: string) => parseIP(t)!;

describe('parsing ip -json output', () => {
  test('addresses are canonical, lifetimes kept, tentative marked unusable', () => {
    const eth0 = links.find((l) => l.ifname === 'eth0')!;
    expect(eth0.addrs.map((a) => [a.ip, a.prefix, a.validLft, a.usable])).toEqual([
      ['192.168.1.10', 24, undefined, true],
      ['192.168.1.200', 24, 55, true],
      ['fd00:1::10', 64, undefined, true],
      ['fd00:2::10', 64, undefined, false],
      ['fe80::1', 64, undefined, true],
    ]);
  });

  test('each read parses its own table: an address seen by the read before is canonical and of its family again', () => {
    const read = (local: string[]) =>
      parseIpAddrJson(
        JSON.stringify([
          {
            ifname: 'eth0',
            addr_info: local.map((l) => ({ family: l.includes(':') ? 'inet6' : 'inet', local: l, prefixlen: 64 })),
          },
        ]),
      )[0]!.addrs.map((a) => `${a.ip} ${a.family}`);
    expect(read(['fd00:0001::0010', '10.0.0.1'])).toEqual(['fd00:1::10 6', '10.0.0.1 4']);
    expect(read(['fd00:0001::0010', 'not-an-ip', '10.0.0.2'])).toEqual(['fd00:1::10 6', '10.0.0.2 4']);
    expect(read(['10.0.0.1'])).toEqual(['10.0.0.1 4']);
  });

  test('default routes: metric defaults to 0', () => {
    expect(
      parseDefaultRoutesJson(
        '[{"dst":"default","gateway":"192.168.1.1","dev":"eth0"},{"dst":"default","dev":"eth1","metric":50}]',
      ),
    ).toEqual([
      { dev: 'eth0', metric: 0 },
      { dev: 'eth1', metric: 50 },
    ]);
  });
});

describe('local interface choice', () => {
  test('"default" picks the interface of the lowest-metric default route', () => {
    expect(
      localInterfaces(
        'default',
        links,
        [
          { dev: 'eth0', metric: 100 },
          { dev: 'eth1', metric: 10 },
        ],
        'kube-lb0',
      ),
    ).toEqual(['eth1']);
    expect(localInterfaces('default', links, [], 'kube-lb0')).toEqual([]);
  });

  test('a regex matches interface names, never lo or the virtual interface, sorted', () => {
    expect(localInterfaces(/^eth/, links, [], 'kube-lb0')).toEqual(['eth0', 'eth1']);
    expect(localInterfaces(/.*/, links, [], 'kube-lb0')).toEqual(['eth0', 'eth1']);
  });
});

describe('local or virtual', () => {
  const none = new Set<string>();
  test('an address inside the subnet of an interface address is local, with that prefix', () => {
    expect(localPlacer(['eth0'], links, none)(ip('192.168.1.77'))).toEqual({ ifname: 'eth0', prefix: 24 });
    expect(localPlacer(['eth0'], links, none)(ip('fd00:1::77'))).toEqual({ ifname: 'eth0', prefix: 64 });
    expect(localPlacer(['eth0', 'eth1'], links, none)(ip('10.0.99.1'))).toEqual({ ifname: 'eth1', prefix: 16 });
  });

  test('outside every subnet, on a non-candidate interface, or another family: virtual', () => {
    expect(localPlacer(['eth0'], links, none)(ip('10.200.0.9'))).toBeUndefined();
    expect(localPlacer(['eth0'], links, none)(ip('10.0.99.1'))).toBeUndefined();
    expect(localPlacer(['eth0'], links, none)(ip('fd00:3::1'))).toBeUndefined();
  });

  test("tentative and link-local IPv6 addresses and the agent's own addresses define no subnet", () => {
    expect(localPlacer(['eth0'], links, none)(ip('fd00:2::77'))).toBeUndefined();
    expect(localPlacer(['eth0'], links, none)(ip('fe80::77'))).toBeUndefined();
    const onlyOwn = parseIpAddrJson(
      JSON.stringify([{ ifname: 'eth0', addr_info: [{ family: 'inet', local: '172.16.0.200', prefixlen: 24 }] }]),
    );
    expect(
      localPlacer(['eth0'], onlyOwn, new Set([addressKey('eth0', '172.16.0.200', 24)]))(ip('172.16.0.9')),
    ).toBeUndefined();
    expect(localPlacer(['eth0'], onlyOwn, none)(ip('172.16.0.9'))).toEqual({ ifname: 'eth0', prefix: 24 });
  });

  test("node subnets: networks of the candidate interfaces, without host routes or the agent's addresses", () => {
    const owned = new Set([addressKey('eth0', '192.168.1.200', 24)]);
    expect(nodeSubnets(['eth0', 'eth1'], links, owned)).toEqual(['10.0.0.0/16', '192.168.1.0/24', 'fd00:1::/64']);
  });
});
