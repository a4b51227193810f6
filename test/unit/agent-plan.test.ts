import { describe, expect, test } from '@jest/globals';
import type { AddressDecision } from '../../src/agent/desired.ts';
import { addressKey, parseIpAddrJson } from '../../src/agent/interfaces.ts';
import { parseBatchErrors } from '../../src/agent/iproute.ts';
import { batchLine, planChanges } from '../../src/agent/plan.ts';
import { announcementEvents, announcementsByService } from '../../src/agent/report.ts';

const links = parseIpAddrJson(JSON.stringify([
  { ifname: 'eth0', addr_info: [
    { family: 'inet', local: '192.168.1.11', prefixlen: 24 },
    { family: 'inet', local: '192.168.1.200', prefixlen: 24, valid_life_time: 50 },
    { family: 'inet', local: '192.168.1.201', prefixlen: 24, valid_life_time: 20 },
    { family: 'inet', local: '192.168.1.250', prefixlen: 24 },
  ] },
  { ifname: 'kube-lb0', addr_info: [
    { family: 'inet', local: '10.200.0.5', prefixlen: 24 },
    { family: 'inet', local: '10.200.0.6', prefixlen: 24 },
    { family: 'inet', local: '10.99.0.1', prefixlen: 32 },
  ] },
]));

const d = (ip: string, kind: 'local' | 'virtual', prefix: number, announce = true, services = ['ns/s']): AddressDecision => ({
  ip, family: ip.includes(':') ? 6 : 4, kind, ifname: kind === 'local' ? 'eth0' : 'kube-lb0', prefix, announce, services, reason: announce ? '' : 'n2 won the election',
});
const opts = { localLifetime: 60 };

describe('kernel plan', () => {
  const owned = new Set([addressKey('eth0', '192.168.1.200', 24), addressKey('eth0', '192.168.1.201', 24),
    addressKey('kube-lb0', '10.200.0.5', 24), addressKey('kube-lb0', '10.200.0.6', 24)]);

  test('nothing to do when the kernel already matches', () => {
    expect(planChanges([d('192.168.1.200', 'local', 24), d('10.200.0.5', 'virtual', 24), d('10.200.0.6', 'virtual', 24)], links, owned, opts)
      .filter((c) => !c.renew && c.ip !== '192.168.1.201')).toEqual([]);
  });

  test('orphans the agent owns are removed; foreign addresses stay even when not desired', () => {
    const changes = planChanges([d('192.168.1.200', 'local', 24)], links, owned, opts);
    expect(changes.filter((c) => c.op === 'del').map((c) => `${c.ifname} ${c.ip} ${c.kind}`).sort())
      .toEqual(['eth0 192.168.1.201 orphan', 'kube-lb0 10.200.0.5 orphan', 'kube-lb0 10.200.0.6 orphan']);
  });

  test('a lost election removes the local address; deletes come before adds', () => {
    const changes = planChanges([d('192.168.1.200', 'local', 24, false), d('10.200.0.7', 'virtual', 24), d('10.200.0.5', 'virtual', 24), d('10.200.0.6', 'virtual', 24)],
      links, owned, opts);
    expect(changes.map((c) => `${c.op} ${c.ip} ${c.kind}`)).toEqual(['del 192.168.1.200 local', 'del 192.168.1.201 orphan', 'add 10.200.0.7 virtual']);
  });

  test('a held local address is renewed when half of its lifetime is used, and only then', () => {
    const changes = planChanges([d('192.168.1.200', 'local', 24), d('192.168.1.201', 'local', 24)], links, owned, opts);
    expect(changes.filter((c) => c.op === 'add')).toEqual([expect.objectContaining({ ip: '192.168.1.201', renew: true })]);
    expect(planChanges([d('192.168.1.201', 'local', 24)], links, owned, { localLifetime: 0 }).filter((c) => c.op === 'add')).toEqual([]);
  });

  test('a changed aggregation replaces the address', () => {
    const changes = planChanges([d('10.200.0.5', 'virtual', 32), d('10.200.0.6', 'virtual', 24)], links, owned, { localLifetime: 0 });
    expect(changes.map((c) => `${c.op} ${c.ip}/${c.prefix}`)).toEqual(['del 192.168.1.200/24', 'del 192.168.1.201/24', 'del 10.200.0.5/24', 'add 10.200.0.5/32']);
  });

  test('batch lines: lifetimes for local, nodad for IPv6', () => {
    expect(batchLine({ op: 'add', ifname: 'eth0', ip: '192.168.1.9', family: 4, prefix: 24, kind: 'local' }, opts))
      .toBe('address replace 192.168.1.9/24 dev eth0 valid_lft 60 preferred_lft 60');
    expect(batchLine({ op: 'add', ifname: 'kube-lb0', ip: 'fd00::9', family: 6, prefix: 128, kind: 'virtual' }, opts))
      .toBe('address replace fd00::9/128 dev kube-lb0 nodad');
    expect(batchLine({ op: 'del', ifname: 'kube-lb0', ip: '10.0.0.1', family: 4, prefix: 32, kind: 'orphan' }, opts))
      .toBe('address del 10.0.0.1/32 dev kube-lb0');
  });

  test('ip -force -batch errors are attributed to their lines', () => {
    expect(parseBatchErrors('Error: ipv4: Address already assigned.\nCommand failed -:1\nError: ipv4: Address not found.\nCommand failed -:3\n'))
      .toEqual([{ line: 1, message: 'Error: ipv4: Address already assigned.' }, { line: 3, message: 'Error: ipv4: Address not found.' }]);
  });
});

describe('events only on change', () => {
  const decisions = [d('192.168.1.200', 'local', 24, true, ['ns/a']), d('10.200.0.5', 'virtual', 24, true, ['ns/a', 'ns/b'])];
  const first = announcementsByService(decisions, new Set());

  test('first announcement, then silence for the same state', () => {
    const events = announcementEvents('n1', new Map(), first, decisions, new Map());
    expect(events.map((e) => `${e.service} ${e.reason}`)).toEqual(['ns/a AnnouncingLocal', 'ns/a AnnouncingNonLocal', 'ns/b AnnouncingNonLocal']);
    expect(events[0]!.note).toBe('node n1 announces 192.168.1.200 on eth0');
    expect(announcementEvents('n1', first, announcementsByService(decisions, new Set()), decisions, new Map())).toEqual([]);
  });

  test('losing the election is one Withdrawn event with the reason; a failure is a warning', () => {
    const lost = [d('192.168.1.200', 'local', 24, false, ['ns/a']), decisions[1]!];
    const events = announcementEvents('n1', first, announcementsByService(lost, new Set()), lost, new Map([['ns/b', 'could not add 10.200.0.5/24']]));
    expect(events).toEqual([
      { service: 'ns/a', type: 'Normal', reason: 'Withdrawn', note: 'node n1 withdrew 192.168.1.200 on eth0 (n2 won the election)' },
      { service: 'ns/b', type: 'Warning', reason: 'AnnouncementFailed', note: 'node n1: could not add 10.200.0.5/24' },
    ]);
  });

  test('an address the kernel refused is not reported as announced', () => {
    expect(announcementsByService(decisions, new Set(['10.200.0.5 kube-lb0'])).get('ns/b')).toEqual({ local: [], virtual: [] });
  });
});
