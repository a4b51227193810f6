// Which Services get a NoEligibleNode note, and what it says (src/model/no-eligible.ts). Who writes it
// and when: test/unit/allocator-no-eligible.test.ts.
import { describe, expect, test } from '@jest/globals';
import { parseIP } from '../../src/api/ip.ts';
import { parseServiceGroup } from '../../src/api/validate-servicegroup.ts';
import { servicesWithoutEligibleNode } from '../../src/model/no-eligible.ts';
import type { Heartbeat } from '../../src/model/heartbeat.ts';
import type { ServiceInput } from '../../src/model/services.ts';
import { hb } from './fakes/heartbeat.ts';

const svc = (key: string, ips: string[], more: Partial<ServiceInput> = {}): ServiceInput => ({
  key,
  addresses: ips.map((ip) => parseIP(ip)!),
  etpLocal: false,
  allocatedFrom: ['edge'],
  announcing: {},
  labels: {},
  ...more,
});
const edge = parseServiceGroup({
  metadata: { name: 'edge', namespace: 'purelb' },
  spec: {
    local: {
      v4pools: [
        { subnet: '10.9.0.0/24', pool: '10.9.0.0/24', aggregation: '/32' },
        { subnet: '192.168.1.0/24', pool: '192.168.1.200-192.168.1.250' },
      ],
    },
    nodeSelectors: [{ matchLabels: { zone: 'a' } }],
  },
}).config!;
const LAN = '192.168.1.0/24';

describe('services without an eligible node', () => {
  const run = (services: ServiceInput[], heartbeats: Heartbeat[], endpoints = new Map<string, Set<string>>()) =>
    servicesWithoutEligibleNode({ services, heartbeats, groups: [edge], endpoints, now: 1000 });

  test('one note per Service, naming each of its addresses without an eligible node', () => {
    const beats = [hb('n1', [LAN], { labels: { zone: 'b' } }), hb('n2', ['10.1.0.0/16'], { labels: { zone: 'a' } })];
    expect(run([svc('ns/web', ['10.9.0.1', '192.168.1.200']), svc('ns/api', ['10.9.0.2'])], beats)).toEqual(
      new Map([
        // the virtual address has n2; the local one needs a selected node on its subnet
        [
          'ns/web',
          'no node may announce the local address 192.168.1.200 of ServiceGroup edge: n1 (not selected), n2 (not on the subnet)',
        ],
      ]),
    );
  });

  test('no heartbeat Lease at all (no agent installed): nothing is reported; one expired Lease is enough to report', () => {
    const web = [svc('ns/web', ['10.9.0.1'])];
    expect(run(web, [])).toEqual(new Map());
    expect(run(web, [hb('n1', [], { labels: { zone: 'a' }, expiresAt: 0 })])).toEqual(
      new Map([['ns/web', 'no node may announce the virtual address 10.9.0.1 of ServiceGroup edge: n1 (fenced)']]),
    );
  });

  test('ETP Local: the endpoint nodes of every Service sharing the address count', () => {
    const beats = [hb('n1', [], { labels: { zone: 'a' } }), hb('n2', [], { labels: { zone: 'a' } })];
    const shared = [svc('ns/a', ['10.9.0.3'], { etpLocal: true }), svc('ns/b', ['10.9.0.3'], { etpLocal: true })];
    expect(run(shared, beats, new Map([['ns/b', new Set(['n2'])]]))).toEqual(new Map());
    const none = run(shared, beats, new Map());
    expect([...none.keys()]).toEqual(['ns/a', 'ns/b']);
    expect(none.get('ns/a')).toBe(
      'no node may announce the virtual address 10.9.0.3 of ServiceGroup edge: n1 (no endpoint), n2 (no endpoint)',
    );
  });

  test('ETP Cluster addresses of one group share the answer, whichever address is asked first', () => {
    const beats = [hb('n1', [], { labels: { zone: 'b' } })];
    const notes = run([svc('ns/a', ['10.9.0.4']), svc('ns/b', ['10.9.0.5'])], beats);
    expect(notes.get('ns/a')).toBe(
      'no node may announce the virtual address 10.9.0.4 of ServiceGroup edge: n1 (not selected)',
    );
    expect(notes.get('ns/b')).toBe(
      'no node may announce the virtual address 10.9.0.5 of ServiceGroup edge: n1 (not selected)',
    );
  });
});
