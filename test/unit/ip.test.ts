import { describe, expect, test } from '@jest/globals';
import { canonicalIP, cidrContains, formatIP, networkOf, parseCIDR, parseIP } from '../../src/api/ip.ts';

describe('parseIP refuses what ipaddr.js would accept leniently', () => {
  test.each([
    '010.1.1.1',
    '0x7f.1',
    '127.1',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    ' 1.2.3.4',
    '1.2.3.4 ',
    'fe80::1%eth0',
    '::ffff:010.1.1.1',
    'fc00:::1',
    'g::1',
    '',
    '1.2.3.-4',
    '+1.2.3.4',
  ])('%j is invalid', (text) => {
    expect(parseIP(text)).toBeUndefined();
  });
  test.each([
    ['0.0.0.0', 4, 0n],
    ['255.255.255.255', 4, 0xffffffffn],
    ['10.1.2.3', 4, 0x0a010203n],
    ['::', 6, 0n],
    ['::1', 6, 1n],
    ['fc00:270:154:0:8100::4', 6, 0xfc000270015400008100000000000004n],
    ['::ffff:10.1.1.1', 6, 0xffff0a010101n],
  ] as const)('%s parses to family %d', (text, family, value) => {
    expect(parseIP(text)).toEqual({ family, value });
  });
});

test('formatIP round-trips and canonicalises IPv6', () => {
  expect(formatIP(parseIP('10.31.188.126')!)).toBe('10.31.188.126');
  expect(canonicalIP('fc00:0270:0154:0:8100:0:0:4')).toBe('fc00:270:154:0:8100::4');
  expect(canonicalIP('010.1.1.1')).toBeUndefined();
});

test('parseCIDR keeps the address as written and checks the prefix strictly', () => {
  const c = parseCIDR('fc00:270:154:0:8100::4/64')!;
  expect(c.prefix).toBe(64);
  expect(formatIP(c.ip)).toBe('fc00:270:154:0:8100::4');
  expect(networkOf(c)).toEqual({
    first: 0xfc000270015400000000000000000000n,
    last: 0xfc00027001540000ffffffffffffffffn,
  });
  for (const bad of ['10.0.0.0/33', '10.0.0.0/08', '10.0.0.0', '10.0.0.0/', '::/129', '10.0.0.0/-1', '010.0.0.0/8']) {
    expect(parseCIDR(bad)).toBeUndefined();
  }
  expect(cidrContains(parseCIDR('192.168.10.0/24')!, parseIP('192.168.10.243')!)).toBe(true);
  expect(cidrContains(parseCIDR('192.168.10.0/24')!, parseIP('192.168.11.0')!)).toBe(false);
  expect(cidrContains(parseCIDR('::/0')!, parseIP('10.0.0.1')!)).toBe(false); // families never mix
});
