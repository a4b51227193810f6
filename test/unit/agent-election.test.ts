import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { parseCIDR } from '../../src/api/ip.ts';
import { electWinner } from '../../src/agent/election.ts';
import { formatProbeEndpoints, nextExpiry, parseHeartbeat, type Heartbeat } from '../../src/model/heartbeat.ts';

const hb = (node: string, subnets: string[], expiresAt = 10_000): Heartbeat => ({
  node,
  subnets: subnets.map((s) => parseCIDR(s)!),
  labels: {},
  expiresAt,
  renewedAt: 0,
});

describe('rendezvous election', () => {
  test('the winner has the lowest sha256(node#address)', () => {
    const nodes = ['node-a', 'node-b', 'node-c', 'node-d'];
    for (const address of ['192.168.1.200', '192.168.1.201', 'fd00::5']) {
      const expected = [...nodes].sort((x, y) =>
        createHash('sha256')
          .update(`${x}#${address}`)
          .digest('hex')
          .localeCompare(createHash('sha256').update(`${y}#${address}`).digest('hex')),
      )[0];
      expect(electWinner(address, nodes)).toBe(expected);
    }
    expect(electWinner('10.0.0.1', [])).toBeUndefined();
  });

  test('removing a node that did not win never changes the winner; the order of candidates does not matter', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), { minLength: 2, maxLength: 8 }),
        fc.ipV4(),
        (nodes, address) => {
          const winner = electWinner(address, nodes)!;
          expect(electWinner(address, [...nodes].reverse())).toBe(winner);
          for (const other of nodes.filter((n) => n !== winner)) {
            expect(
              electWinner(
                address,
                nodes.filter((n) => n !== other),
              ),
            ).toBe(winner);
          }
        },
      ),
    );
  });

  test('addresses spread over nodes', () => {
    const nodes = ['n1', 'n2', 'n3'];
    const wins = new Map<string, number>();
    for (let i = 1; i <= 240; i++) {
      const w = electWinner(`10.0.${i >> 8}.${i & 255}`, nodes)!;
      wins.set(w, (wins.get(w) ?? 0) + 1);
    }
    for (const n of nodes) expect(wins.get(n)).toBeGreaterThan(50);
  });
});

describe('heartbeat expiry', () => {
  const beats = [
    hb('a', ['192.168.1.0/24']),
    hb('b', ['192.168.1.0/24', 'fd00::/64']),
    hb('c', ['10.0.0.0/8']),
    hb('d', ['192.168.1.0/24'], 500),
  ];
  test('next expiry is the earliest live one', () => {
    expect(nextExpiry(beats, 100)).toBe(500);
    expect(nextExpiry(beats, 1000)).toBe(10_000);
    expect(nextExpiry(beats, 20_000)).toBeUndefined();
  });
});

describe('heartbeat Lease parsing', () => {
  const lease = (name: string, holder: string | undefined, subnets: string) => ({
    metadata: { name, annotations: { 'purelb.io/subnets': subnets } as Record<string, string> },
    spec: { holderIdentity: holder, renewTime: new Date(5000), leaseDurationSeconds: 2 },
  });
  test('reads holder, expiry and subnets; skips garbage subnets', () => {
    const h = parseHeartbeat(lease('purelb-node-n1', 'n1', '192.168.1.0/24, bogus,fd00::/64,10.1.1.1/33'))!;
    expect(h.node).toBe('n1');
    expect(h.expiresAt).toBe(7000);
    expect(h.subnets.map((s) => s.prefix)).toEqual([24, 64]);
  });
  test('a Lease whose holder does not match its name is not a heartbeat', () => {
    expect(parseHeartbeat(lease('purelb-node-n1', 'n2', ''))).toBeUndefined();
    expect(parseHeartbeat(lease('purelb-allocator', 'x', ''))).toBeUndefined();
    expect(parseHeartbeat(lease('purelb-node-n1', undefined, ''))).toBeUndefined();
  });
  test("probe endpoints are read only inside the Lease's own subnets (no probes sent elsewhere); restart marker", () => {
    const l = lease('purelb-node-n1', 'n1', '192.168.1.0/24,fd00::/64');
    l.metadata.annotations['purelb.io/probe'] =
      '192.168.1.11:7473,[fd00::11]:7473,10.0.0.1:7473,192.168.1.12:0,192.168.1.13:70000,fd00::14:7473,x:1,192.168.1.15';
    const h = parseHeartbeat(l)!;
    expect(formatProbeEndpoints(h.probe!)).toBe('192.168.1.11:7473,[fd00::11]:7473');
    expect(h.restarting).toBeUndefined();
    l.metadata.annotations['purelb.io/restarting'] = 'for up to 30s';
    expect(parseHeartbeat(l)!.restarting).toBe(true);
  });
});
