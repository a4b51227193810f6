import { describe, expect, test } from '@jest/globals';
import type { AddressDecision } from '../../src/agent/desired.ts';
import { addressKey, parseIpAddrJson } from '../../src/agent/interfaces.ts';
import { parseBatchErrors } from '../../src/agent/iproute.ts';
import { batchLine, keepSecondaries, planChanges, renewalLine, type AddressChange } from '../../src/agent/plan.ts';
import { announcementEvents, announcementsByService } from '../../src/agent/report.ts';

const links = parseIpAddrJson(
  JSON.stringify([
    {
      ifname: 'eth0',
      addr_info: [
        { family: 'inet', local: '192.168.1.11', prefixlen: 24 },
        { family: 'inet', local: '192.168.1.200', prefixlen: 24, valid_life_time: 50 },
        { family: 'inet', local: '192.168.1.201', prefixlen: 24, valid_life_time: 20 },
        { family: 'inet', local: '192.168.1.250', prefixlen: 24 },
      ],
    },
    {
      ifname: 'kube-lb0',
      addr_info: [
        { family: 'inet', local: '10.200.0.5', prefixlen: 24 },
        { family: 'inet', local: '10.200.0.6', prefixlen: 24 },
        { family: 'inet', local: '10.99.0.1', prefixlen: 32 },
      ],
    },
  ]),
);

const d = (
  ip: string,
  kind: 'local' | 'virtual',
  prefix: number,
  announce = true,
  services = ['ns/s'],
): AddressDecision => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  kind,
  ifname: kind === 'local' ? 'eth0' : 'kube-lb0',
  prefix,
  announce,
  services,
  reason: announce ? '' : 'n2 won the election',
});
const opts = { localLifetime: 60 };

describe('kernel plan', () => {
  const owned = new Set([
    addressKey('eth0', '192.168.1.200', 24),
    addressKey('eth0', '192.168.1.201', 24),
    addressKey('kube-lb0', '10.200.0.5', 24),
    addressKey('kube-lb0', '10.200.0.6', 24),
  ]);

  test('nothing to do when the kernel already matches', () => {
    expect(
      planChanges(
        [d('192.168.1.200', 'local', 24), d('10.200.0.5', 'virtual', 24), d('10.200.0.6', 'virtual', 24)],
        links,
        owned,
      ).filter((c) => c.ip !== '192.168.1.201'),
    ).toEqual([]);
  });

  test('orphans the agent owns are removed; foreign addresses stay even when not desired', () => {
    const changes = planChanges([d('192.168.1.200', 'local', 24)], links, owned);
    expect(
      changes
        .filter((c) => c.op === 'del')
        .map((c) => `${c.ifname} ${c.ip} ${c.kind}`)
        .sort(),
    ).toEqual(['eth0 192.168.1.201 orphan', 'kube-lb0 10.200.0.5 orphan', 'kube-lb0 10.200.0.6 orphan']);
  });

  test('a lost election removes the local address; deletes come before adds', () => {
    const changes = planChanges(
      [
        d('192.168.1.200', 'local', 24, false),
        d('10.200.0.7', 'virtual', 24),
        d('10.200.0.5', 'virtual', 24),
        d('10.200.0.6', 'virtual', 24),
      ],
      links,
      owned,
    );
    expect(changes.map((c) => `${c.op} ${c.ip} ${c.kind}`)).toEqual([
      'del 192.168.1.200 local',
      'del 192.168.1.201 orphan',
      'add 10.200.0.7 virtual',
    ]);
  });

  test('a held local address is left alone whatever its remaining lifetime (the renewal keeps it)', () => {
    // 192.168.1.201 has 20 s left, 192.168.1.200 50 s: neither is re-added by a reconcile
    const changes = planChanges([d('192.168.1.200', 'local', 24), d('192.168.1.201', 'local', 24)], links, owned);
    expect(changes.filter((c) => c.ifname === 'eth0')).toEqual([]);
  });

  test('a changed aggregation replaces the address', () => {
    const changes = planChanges([d('10.200.0.5', 'virtual', 32), d('10.200.0.6', 'virtual', 24)], links, owned);
    expect(changes.map((c) => `${c.op} ${c.ip}/${c.prefix}`)).toEqual([
      'del 192.168.1.200/24',
      'del 192.168.1.201/24',
      'del 10.200.0.5/24',
      'add 10.200.0.5/32',
    ]);
  });

  test('batch lines: lifetimes for local, nodad for IPv6', () => {
    expect(
      batchLine({ op: 'add', ifname: 'eth0', ip: '192.168.1.9', family: 4, prefix: 24, kind: 'local' }, opts),
    ).toBe('address replace 192.168.1.9/24 dev eth0 valid_lft 60 preferred_lft 60');
    expect(
      batchLine({ op: 'add', ifname: 'kube-lb0', ip: 'fd00::9', family: 6, prefix: 128, kind: 'virtual' }, opts),
    ).toBe('address replace fd00::9/128 dev kube-lb0 nodad');
    expect(
      batchLine({ op: 'del', ifname: 'kube-lb0', ip: '10.0.0.1', family: 4, prefix: 32, kind: 'orphan' }, opts),
    ).toBe('address del 10.0.0.1/32 dev kube-lb0');
    // an IPv6 local address is deprecated (never a source address), permanent when the lifetime is 0
    expect(batchLine({ op: 'add', ifname: 'eth0', ip: 'fd00::9', family: 6, prefix: 64, kind: 'local' }, opts)).toBe(
      'address replace fd00::9/64 dev eth0 nodad valid_lft 60 preferred_lft 0',
    );
    expect(
      batchLine(
        { op: 'add', ifname: 'eth0', ip: 'fd00::9', family: 6, prefix: 64, kind: 'local' },
        { localLifetime: 0 },
      ),
    ).toBe('address replace fd00::9/64 dev eth0 nodad valid_lft forever preferred_lft 0');
  });

  test('renewal lines refresh the lifetime in place, with the same flags as the add', () => {
    expect(renewalLine({ ifname: 'eth0', ip: '192.168.1.9', family: 4, prefix: 24 }, 10)).toBe(
      'address change 192.168.1.9/24 dev eth0 valid_lft 10 preferred_lft 10',
    );
    expect(renewalLine({ ifname: 'eth0', ip: 'fd00::9', family: 6, prefix: 64 }, 10)).toBe(
      'address change fd00::9/64 dev eth0 nodad valid_lft 10 preferred_lft 0',
    );
  });

  test('ip -force -batch errors are attributed to their lines', () => {
    expect(
      parseBatchErrors(
        'Error: ipv4: Address already assigned.\nCommand failed -:1\nError: ipv4: Address not found.\nCommand failed -:3\n',
      ),
    ).toEqual([
      { line: 1, message: 'Error: ipv4: Address already assigned.' },
      { line: 3, message: 'Error: ipv4: Address not found.' },
    ]);
  });
});

describe('events only on change', () => {
  const decisions = [
    d('192.168.1.200', 'local', 24, true, ['ns/a']),
    d('10.200.0.5', 'virtual', 24, true, ['ns/a', 'ns/b']),
  ];
  const first = announcementsByService(decisions, new Set());

  test('first announcement, then silence for the same state', () => {
    const events = announcementEvents('n1', new Map(), first, decisions, new Map());
    expect(events.map((e) => `${e.service} ${e.reason}`)).toEqual([
      'ns/a AnnouncingLocal',
      'ns/a AnnouncingNonLocal',
      'ns/b AnnouncingNonLocal',
    ]);
    expect(events[0]!.note).toBe('node n1 announces 192.168.1.200 on eth0');
    expect(announcementEvents('n1', first, announcementsByService(decisions, new Set()), decisions, new Map())).toEqual(
      [],
    );
  });

  test('losing the election is one Withdrawn event with the reason; a failure is a warning', () => {
    const lost = [d('192.168.1.200', 'local', 24, false, ['ns/a']), decisions[1]!];
    const events = announcementEvents(
      'n1',
      first,
      announcementsByService(lost, new Set()),
      lost,
      new Map([['ns/b', 'could not add 10.200.0.5/24']]),
    );
    expect(events).toEqual([
      {
        service: 'ns/a',
        type: 'Normal',
        reason: 'Withdrawn',
        note: 'node n1 withdrew 192.168.1.200 on eth0 (n2 won the election)',
      },
      { service: 'ns/b', type: 'Warning', reason: 'AnnouncementFailed', note: 'node n1: could not add 10.200.0.5/24' },
    ]);
  });

  test('an address the kernel refused is not reported as announced', () => {
    expect(announcementsByService(decisions, new Set(['10.200.0.5 kube-lb0'])).get('ns/b')).toEqual({
      local: [],
      virtual: [],
    });
  });
});

// As `ip -json addr` (iproute2 6.1) shows them: the first address of a subnet is its primary, later
// ones with the same prefix and network are "secondary". The kernel deletes the secondaries with the
// primary unless promote_secondaries is on, which a container with a read-only /proc/sys cannot set.
describe('secondary addresses survive the deletion of their primary', () => {
  const g = { scope: 'global', valid_life_time: 4294967295, preferred_life_time: 4294967295 };
  const kernel = parseIpAddrJson(
    JSON.stringify([
      {
        ifname: 'eth0',
        addr_info: [
          // the node's own address was re-added (DHCP) after a local address: that one became the primary
          {
            family: 'inet',
            local: '192.168.1.200',
            prefixlen: 24,
            ...g,
            label: 'eth0',
            valid_life_time: 50,
            preferred_life_time: 50,
          },
          {
            family: 'inet',
            local: '192.168.1.11',
            prefixlen: 24,
            broadcast: '192.168.1.255',
            scope: 'global',
            secondary: true,
            dynamic: true,
            noprefixroute: true,
            label: 'eth0:lan',
            metric: 100,
            valid_life_time: 3000,
            preferred_life_time: 1500,
          },
          { family: 'inet6', local: 'fd00:1::200', prefixlen: 64, ...g },
        ],
      },
      {
        ifname: 'kube-lb0',
        addr_info: [
          { family: 'inet', local: '10.200.0.5', prefixlen: 24, ...g, label: 'kube-lb0' },
          { family: 'inet', local: '10.99.0.1', prefixlen: 32, ...g, label: 'kube-lb0' },
          { family: 'inet', local: '10.200.0.6', prefixlen: 24, ...g, secondary: true, label: 'kube-lb0' },
          { family: 'inet', local: '10.201.0.1', prefixlen: 24, ...g, label: 'kube-lb0' },
          { family: 'inet', local: '10.200.0.7', prefixlen: 24, ...g, secondary: true, label: 'kube-lb0' },
          { family: 'inet', local: '10.201.0.2', prefixlen: 24, ...g, secondary: true, label: 'kube-lb0' },
          { family: 'inet6', local: 'fd00:200::5', prefixlen: 64, ...g },
        ],
      },
    ]),
  );
  const owned = new Set([
    addressKey('eth0', '192.168.1.200', 24),
    addressKey('eth0', 'fd00:1::200', 64),
    ...['10.200.0.5', '10.200.0.6', '10.200.0.7', '10.201.0.1', '10.201.0.2'].map((ip) =>
      addressKey('kube-lb0', ip, 24),
    ),
    addressKey('kube-lb0', 'fd00:200::5', 64),
  ]);
  const virtual = (ips: string[]) => ips.map((ip) => d(ip, 'virtual', ip.includes(':') ? 64 : 24));
  const show = (changes: AddressChange[]) =>
    changes.map((c) => `${c.restore ? 'restore' : c.op} ${c.ip}/${c.prefix} ${c.kind}`);
  const lines = (changes: AddressChange[]) => changes.map((c) => batchLine(c, { localLifetime: 0 }));

  test('the ip -json flags and attributes are kept', () => {
    const lan = kernel.find((l) => l.ifname === 'eth0')!.addrs;
    expect(lan.map((a) => a.secondary)).toEqual([false, true, undefined]);
    expect(lan[1]!.attrs).toEqual({
      scope: 'global',
      label: 'eth0:lan',
      broadcast: '192.168.1.255',
      noprefixroute: true,
      metric: 100,
      preferredLft: 1500,
    });
  });

  test('removing the primary of a /24 on kube-lb0 puts its other addresses back right after, in kernel order', () => {
    const changes = planChanges(
      virtual(['10.200.0.6', '10.200.0.7', '10.201.0.1', '10.201.0.2', 'fd00:200::5']),
      kernel,
      owned,
    );
    // deletes of non-primaries first (in the order of the ownership record), then each primary with its restores
    expect(show(changes)).toEqual([
      'del fd00:1::200/64 orphan',
      'del 192.168.1.200/24 orphan',
      'restore 192.168.1.11/24 foreign',
      'del 10.200.0.5/24 orphan',
      'restore 10.200.0.6/24 virtual',
      'restore 10.200.0.7/24 virtual',
    ]);
    expect(lines(changes.filter((c) => c.ifname === 'kube-lb0'))).toEqual([
      'address del 10.200.0.5/24 dev kube-lb0',
      'address replace 10.200.0.6/24 dev kube-lb0 scope global',
      'address replace 10.200.0.7/24 dev kube-lb0 scope global',
    ]);
  });

  test('secondaries that go too are deleted before their primary and not put back', () => {
    const changes = planChanges(
      virtual(['10.200.0.7', '10.201.0.1', '10.201.0.2', 'fd00:200::5']).concat(d('192.168.1.200', 'local', 24)),
      kernel,
      owned,
    );
    expect(show(changes)).toEqual([
      'del fd00:1::200/64 orphan',
      'del 10.200.0.6/24 orphan',
      'del 10.200.0.5/24 orphan',
      'restore 10.200.0.7/24 virtual',
    ]);
    const all = planChanges(
      virtual(['10.201.0.1', '10.201.0.2', 'fd00:200::5']).concat(d('192.168.1.200', 'local', 24)),
      kernel,
      owned,
    );
    expect(show(all)).toEqual([
      'del fd00:1::200/64 orphan',
      'del 10.200.0.6/24 orphan',
      'del 10.200.0.7/24 orphan',
      'del 10.200.0.5/24 orphan',
    ]);
  });

  test("removing a secondary, a host address, another subnet's address or IPv6 needs no restore", () => {
    const keep = ['10.200.0.5', '10.200.0.6', '10.201.0.1', '10.201.0.2'];
    expect(show(planChanges(virtual(keep).concat(d('192.168.1.200', 'local', 24)), kernel, owned))).toEqual([
      'del fd00:1::200/64 orphan',
      'del 10.200.0.7/24 orphan',
      'del fd00:200::5/64 orphan',
    ]);
    const withHost = new Set([...owned, addressKey('kube-lb0', '10.99.0.1', 32)]);
    expect(
      show(
        planChanges(
          virtual([...keep, '10.200.0.7', 'fd00:200::5']).concat(
            d('192.168.1.200', 'local', 24),
            d('fd00:1::200', 'local', 64),
          ),
          kernel,
          withHost,
        ),
      ),
    ).toEqual(['del 10.99.0.1/32 orphan']);
  });

  test('a primary that changes prefix: old one out, survivors back, new one in', () => {
    const changes = planChanges(
      [
        d('10.200.0.5', 'virtual', 32),
        ...virtual(['10.200.0.6', '10.200.0.7', '10.201.0.1', '10.201.0.2', 'fd00:200::5']),
        d('192.168.1.200', 'local', 24),
        d('fd00:1::200', 'local', 64),
      ],
      kernel,
      owned,
    );
    expect(show(changes)).toEqual([
      'del 10.200.0.5/24 virtual',
      'restore 10.200.0.6/24 virtual',
      'restore 10.200.0.7/24 virtual',
      'add 10.200.0.5/32 virtual',
    ]);
  });

  test('a foreign address is put back with its own attributes and lifetimes (withdrawal at shutdown)', () => {
    const changes = keepSecondaries(
      [{ op: 'del', ifname: 'eth0', ip: '192.168.1.200', family: 4, prefix: 24, kind: 'local' }],
      kernel,
    );
    expect(show(changes)).toEqual(['del 192.168.1.200/24 local', 'restore 192.168.1.11/24 foreign']);
    expect(lines(changes)).toEqual([
      'address del 192.168.1.200/24 dev eth0',
      'address replace 192.168.1.11/24 dev eth0 broadcast 192.168.1.255 scope global label eth0:lan metric 100 noprefixroute valid_lft 3000 preferred_lft 1500',
    ]);
    // an owned local address restored keeps its remaining lifetime
    const peer = parseIpAddrJson(
      JSON.stringify([
        {
          ifname: 'ppp0',
          addr_info: [
            {
              family: 'inet',
              local: '10.0.0.1',
              address: '10.0.0.2',
              prefixlen: 32,
              scope: 'global',
              label: 'ppp0',
              valid_life_time: 4294967295,
              preferred_life_time: 4294967295,
            },
          ],
        },
      ]),
    );
    expect(
      lines(
        keepSecondaries([], peer).concat({
          op: 'add',
          ifname: 'ppp0',
          ip: '10.0.0.1',
          family: 4,
          prefix: 32,
          kind: 'foreign',
          restore: peer[0]!.addrs[0]!,
        }),
      ),
    ).toEqual(['address replace 10.0.0.1 peer 10.0.0.2/32 dev ppp0 scope global']);
  });
});
