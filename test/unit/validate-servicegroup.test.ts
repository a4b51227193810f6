// The ServiceGroup validator: every refusal names object, field and fix; the parser normalises pools
// exactly as PureLB v1 reads them; overlaps are found within and across groups, containment included.
import { describe, expect, test } from '@jest/globals';
import { validateObject, validateObjects } from '../../src/api/validate.ts';
import { findOverlap, parseServiceGroup, type PoolRange } from '../../src/api/validate-servicegroup.ts';
import { formatProblem } from '../../src/api/validation.ts';

const sg = (name: string, local: unknown, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'purelb.io/v1',
  kind: 'ServiceGroup',
  metadata: { name, namespace: 'purelb' },
  spec: { local, ...extra },
});
const entry = (pool: string, subnet: string, aggregation?: string) => ({
  pool,
  subnet,
  ...(aggregation ? { aggregation } : {}),
});

describe('parse', () => {
  test('the seed manifests normalise to PureLB v1 ranges (CIDR from the address as written)', () => {
    const { config, problems } = parseServiceGroup(
      sg('localaddrange', {
        v4pools: [entry('192.168.10.240-192.168.10.243', '192.168.10.0/24', 'default')],
        v6pools: [entry('fc00:270:154:0:8100::4/64', 'fc00:270:154::/64', 'default')],
      }),
    );
    expect(problems).toEqual([]);
    expect(
      config!.ranges.map((r) => [r.family, r.first.toString(16), r.last.toString(16), r.aggregation, r.field]),
    ).toEqual([
      [4, 'c0a80af0', 'c0a80af3', 24, 'spec.local.v4pools[0]'],
      [6, 'fc000270015400008100000000000004', 'fc00027001540000ffffffffffffffff', 64, 'spec.local.v6pools[0]'],
    ]);
    const single = parseServiceGroup(
      sg('x', { v4pool: entry('10.31.188.64-10.31.188.126', '10.31.188.64/26', '/32') }),
    ).config!;
    expect(single.ranges[0]).toMatchObject({ aggregation: 32, text: '10.31.188.64-10.31.188.126' });
  });

  test('declaration order per family: vNpools in list order, then vNpool, then the legacy trio', () => {
    const { config } = parseServiceGroup(
      sg('x', {
        subnet: '10.3.0.0/24',
        pool: '10.3.0.0/30',
        v4pool: entry('10.2.0.0/30', '10.2.0.0/24'),
        v4pools: [entry('10.1.0.0/30', '10.1.0.0/24'), entry('10.0.0.0/30', '10.0.0.0/24')],
        v6pool: entry('fd00::/126', 'fd00::/64'),
      }),
    );
    expect(config!.ranges.map((r) => r.field)).toEqual([
      'spec.local.v4pools[0]',
      'spec.local.v4pools[1]',
      'spec.local.v4pool',
      'spec.local',
      'spec.local.v6pool',
    ]);
  });
});

describe('refusals name object, field and fix', () => {
  test.each([
    [
      'octal-looking octet',
      { v4pool: entry('010.1.1.1-10.1.1.5', '10.1.1.0/24') },
      'spec.local.v4pool.pool',
      'range start "010.1.1.1" is not an IP address; write IPv4 as four decimal octets without leading zeros',
    ],
    [
      'hex shorthand',
      { v4pool: entry('0x7f.1/32', '127.0.0.0/8') },
      'spec.local.v4pool.pool',
      '"0x7f.1/32" is not a CIDR',
    ],
    [
      'short IPv4',
      { v4pool: entry('10.1-10.2', '10.0.0.0/8') },
      'spec.local.v4pool.pool',
      'range start "10.1" is not an IP address',
    ],
    [
      'zone id',
      { v6pool: entry('fe80::1%eth0-fe80::9', 'fe80::/64') },
      'spec.local.v6pool.pool',
      'is not an IP address',
    ],
    [
      'bad subnet',
      { v4pool: entry('10.0.0.1-10.0.0.2', '10.0.0.0/33') },
      'spec.local.v4pool.subnet',
      '"10.0.0.0/33" is not a CIDR',
    ],
    [
      'from > to',
      { v4pool: entry('10.0.0.9-10.0.0.1', '10.0.0.0/24') },
      'spec.local.v4pool.pool',
      'range start 10.0.0.9 is after its end 10.0.0.1; write "from-to" with from <= to',
    ],
    [
      'mixed families',
      { v6pool: entry('fd00::1-10.0.0.1', 'fd00::/64') },
      'spec.local.v6pool.pool',
      'mixes IPv6 and IPv4',
    ],
    [
      'pool vs subnet family',
      { subnet: 'fd00::/64', pool: '10.0.0.1-10.0.0.9' },
      'spec.local.pool',
      'pool 10.0.0.1-10.0.0.9 is IPv4 but subnet fd00::/64 is IPv6',
    ],
    [
      'v6 subnet in v4pools',
      { v4pools: [entry('fd00::1-fd00::9', 'fd00::/64')] },
      'spec.local.v4pools[0].subnet',
      'move the entry to v6pools',
    ],
    [
      'range outside subnet',
      { v4pool: entry('10.0.1.0-10.0.1.9', '10.0.0.0/24') },
      'spec.local.v4pool.pool',
      'is not inside subnet 10.0.0.0/24; shrink the pool or widen the subnet',
    ],
    [
      'CIDR outside subnet',
      { v4pool: entry('10.0.0.0/23', '10.0.0.0/24') },
      'spec.local.v4pool.pool',
      'pool 10.0.0.0/23 (10.0.0.0-10.0.1.255) is not inside subnet',
    ],
    [
      'aggregation for IPv4',
      { v4pool: entry('10.0.0.1-10.0.0.9', '10.0.0.0/24', '/64') },
      'spec.local.v4pool.aggregation',
      'aggregation "/64" is not valid for IPv4; use "default" (the subnet\'s prefix) or /0../32',
    ],
    [
      'aggregation syntax',
      { v6pool: entry('fd00::1-fd00::9', 'fd00::/64', '64') },
      'spec.local.v6pool.aggregation',
      'is not valid for IPv6',
    ],
    [
      'overlap within group',
      { v4pools: [entry('10.0.0.0/24', '10.0.0.0/16'), entry('10.0.0.10-10.0.0.12', '10.0.0.0/16')] },
      'spec.local.v4pools[1].pool',
      'overlaps 10.0.0.0/24 (10.0.0.0-10.0.0.255) at spec.local.v4pools[0] of this group',
    ],
    [
      'overlap singular vs list',
      { v4pools: [entry('10.0.0.5-10.0.0.9', '10.0.0.0/24')], v4pool: entry('10.0.0.9-10.0.0.20', '10.0.0.0/24') },
      'spec.local.v4pool.pool',
      'overlaps 10.0.0.5-10.0.0.9',
    ],
    ['half a legacy trio', { subnet: '10.0.0.0/24' }, 'spec.local.pool', 'must be set together'],
    ['no pools', { v4pools: [] }, 'spec.local', 'has no pools'],
    [
      'stray legacy aggregation',
      { aggregation: '/32', v4pools: [entry('10.0.0.1-10.0.0.9', '10.0.0.0/24')] },
      'spec.local.aggregation',
      'applies only to the legacy',
    ],
    [
      'pruned field',
      { v4Pool: entry('10.0.0.1-10.0.0.9', '10.0.0.0/24'), v4pools: [entry('10.0.1.1-10.0.1.9', '10.0.1.0/24')] },
      'spec.local.v4Pool',
      'did you mean "v4pool"?',
    ],
    ['missing pool', { v4pool: { subnet: '10.0.0.0/24' } }, 'spec.local.v4pool.pool', 'is required'],
  ])('%s', (_, local, field, message) => {
    const problems = validateObject(sg('g', local));
    expect(problems[0]).toEqual({ object: 'ServiceGroup purelb/g', field, message: expect.stringContaining(message) });
    expect(parseServiceGroup(sg('g', local)).config).toBeUndefined();
  });

  test('netbox is refused with the alternative', () => {
    expect(
      validateObject({
        apiVersion: 'purelb.io/v1',
        kind: 'ServiceGroup',
        metadata: { name: 'n' },
        spec: { netbox: { url: 'x' } },
      }),
    ).toEqual([
      { object: 'ServiceGroup n', field: 'spec.netbox', message: 'Netbox IPAM is not supported; use spec.local pools' },
    ]);
  });

  test('wrong apiVersion or unknown kind', () => {
    expect(
      validateObject({ apiVersion: 'purelb.io/v2', kind: 'ServiceGroup', metadata: { name: 'x' } })[0],
    ).toMatchObject({ field: 'apiVersion' });
    expect(validateObject({ apiVersion: 'purelb.io/v1', kind: 'Nope', metadata: { name: 'x' } })[0]).toMatchObject({
      field: 'kind',
    });
  });
});

describe('across groups', () => {
  const a = sg('a', { v4pool: entry('10.0.0.0/24', '10.0.0.0/16') });
  test('a later group overlapping an earlier one is reported, containment in either direction included', () => {
    const inner = sg('inner', { v4pool: entry('10.0.0.100-10.0.0.101', '10.0.0.0/16') });
    const outer = sg('outer', { v4pools: [entry('10.0.0.0/17', '10.0.0.0/16')] });
    expect(validateObjects([a, inner]).map(formatProblem)).toEqual([
      'ServiceGroup purelb/inner: spec.local.v4pool.pool: pool 10.0.0.100-10.0.0.101 overlaps 10.0.0.0/24 (10.0.0.0-10.0.0.255) at spec.local.v4pool of ServiceGroup purelb/a; pools must not share addresses (split or shrink one)',
    ]);
    expect(validateObjects([a, outer])[0]).toMatchObject({
      object: 'ServiceGroup purelb/outer',
      field: 'spec.local.v4pools[0].pool',
    });
  });
  test('duplicate names are refused, also across namespaces (Services name groups without a namespace)', () => {
    const dup = {
      ...sg('a', { v4pool: entry('10.9.0.0/24', '10.9.0.0/16') }),
      metadata: { name: 'a', namespace: 'other' },
    };
    expect(validateObjects([a, dup])).toEqual([
      {
        object: 'ServiceGroup other/a',
        field: 'metadata.name',
        message: expect.stringContaining('duplicate ServiceGroup name "a"'),
      },
    ]);
  });
  test('adjacent ranges and different families do not overlap', () => {
    const b = sg('b', { v4pool: entry('10.0.1.0/24', '10.0.0.0/16'), v6pool: entry('fd00::/120', 'fd00::/64') });
    const c = sg('c', { v6pool: entry('fd00::100-fd00::1ff', 'fd00::/64') });
    expect(validateObjects([a, b, c])).toEqual([]);
  });
});

test('findOverlap agrees with a pairwise check on random ranges', () => {
  const r = (first: number, last: number): PoolRange => ({
    family: 4,
    first: BigInt(first),
    last: BigInt(last),
    subnet: { ip: { family: 4, value: 0n }, prefix: 0 },
    aggregation: 32,
    field: `${first}`,
    text: `${first}-${last}`,
  });
  for (let trial = 0; trial < 500; trial++) {
    const make = () =>
      Array.from({ length: 1 + Math.floor(Math.random() * 4) }, () => {
        const a = Math.floor(Math.random() * 60);
        return r(a, a + Math.floor(Math.random() * 8));
      });
    const as = make();
    const bs = make();
    const pairwise = as.some((x) => bs.some((y) => x.first <= y.last && y.first <= x.last));
    const found = findOverlap(as, bs);
    expect(!!found).toBe(pairwise);
    if (found) {
      expect(as).toContain(found[0]);
      expect(bs).toContain(found[1]);
    }
  }
});
