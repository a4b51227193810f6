// spec.bgp.advertisements: validation (with the reasons a daemon-independent rule refuses), label
// selectors, and which entry decides the attributes of each advertised prefix.
import { describe, expect, test } from '@jest/globals';
import { parseLabelSelector, selectorMatches } from '../../src/model/label-selector.ts';
import { parseRouterConfig, type BgpConfig } from '../../src/api/validate-routerconfig.ts';
import { advertisementsKey, prefixAdvertisements, routeAttributes } from '../../src/routing/attributes.ts';
import { addressServices, serviceInput } from '../../src/model/services.ts';

const TOR = { address: '192.168.11.1', asn: 65000 };
const rc = (advertisements: unknown, localASN = 65001, extra: Record<string, unknown> = {}) =>
  parseRouterConfig({
    metadata: { name: 'r', namespace: 'purelb' },
    spec: { daemon: 'frr', protocol: 'bgp', bgp: { localASN, peers: [TOR], advertisements, ...extra } },
  });
const problems = (advertisements: unknown, localASN?: number) =>
  rc(advertisements, localASN).problems.map((p) => `${p.field}: ${p.message}`);
const bgpOf = (advertisements: unknown, localASN?: number, extra?: Record<string, unknown>): BgpConfig => {
  const { config, problems: p } = rc(advertisements, localASN, extra);
  if (!config) throw new Error(JSON.stringify(p));
  return config.bgp!;
};

describe('validation', () => {
  test('a full entry normalises: name default, standard and large communities apart', () => {
    expect(
      bgpOf([
        {
          serviceSelector: { matchLabels: { tier: 'gold' } },
          serviceGroups: ['web'],
          communities: ['65000:300', 'large:65001:7:8'],
          asPathPrepend: 2,
        },
      ]).advertisements,
    ).toEqual([
      {
        name: 'adv-1',
        serviceSelector: { matchLabels: { tier: 'gold' }, matchExpressions: [] },
        serviceGroups: ['web'],
        communities: ['65000:300'],
        largeCommunities: ['65001:7:8'],
        asPathPrepend: 2,
      },
    ]);
  });

  test('a config without advertisements has no advertisements field (unchanged behaviour)', () => {
    expect(rc(undefined).config?.bgp).not.toHaveProperty('advertisements');
  });

  test('an entry must select Services and set an attribute', () => {
    expect(problems([{ communities: ['1:1'] }])).toEqual([
      expect.stringMatching(/^spec.bgp.advertisements\[0\]: selects no Service: set serviceSelector/),
    ]);
    expect(problems([{ serviceGroups: ['a'] }])).toEqual([
      expect.stringMatching(/^spec.bgp.advertisements\[0\]: sets no attribute/),
    ]);
  });

  test.each([
    ['65536:1', /both halves/],
    ['large:1:2', /large:global:data1:data2/],
    ['large:1:2:4294967296', /0..4294967295/],
    ['no-export', /standard community/],
  ])('community %s is refused', (community, why) => {
    expect(problems([{ serviceGroups: ['a'], communities: [community] }])).toEqual([expect.stringMatching(why)]);
  });

  test('LOCAL_PREF needs an iBGP peer; AS-path prepend is refused with one (the reasons are given)', () => {
    expect(problems([{ serviceGroups: ['a'], localPref: 200 }])).toEqual([
      expect.stringMatching(
        /localPref: LOCAL_PREF is only sent to iBGP peers \(asn 65001\) and every peer here is eBGP/,
      ),
    ]);
    expect(problems([{ serviceGroups: ['a'], localPref: 200 }], 65000)).toEqual([]);
    expect(problems([{ serviceGroups: ['a'], asPathPrepend: 1 }], 65000)).toEqual([
      expect.stringMatching(/asPathPrepend: peer 192.168.11.1 is iBGP .* drop the route/),
    ]);
    expect(problems([{ serviceGroups: ['a'], asPathPrepend: 9 }])).toEqual([
      expect.stringMatching(/asPathPrepend: must be an integer from 1 to 8/),
    ]);
  });

  test('names are DNS labels and unique; selectors are checked term by term', () => {
    expect(
      problems([
        { name: 'x', serviceGroups: ['a'], communities: ['1:1'] },
        { name: 'x', serviceGroups: ['b'], communities: ['1:2'] },
        { name: 'Bad_Name', serviceGroups: ['b'], communities: ['1:2'] },
        { serviceSelector: { matchExpressions: [{ key: 'k', operator: 'In' }] }, communities: ['1:2'] },
        { serviceSelector: { matchLabels: { 'bad key!': 'v' } }, communities: ['1:2'] },
      ]),
    ).toEqual([
      expect.stringMatching(/^spec.bgp.advertisements\[2\].name: must be a DNS label/),
      expect.stringMatching(
        /^spec.bgp.advertisements\[3\].serviceSelector.matchExpressions\[0\].values: operator In needs at least one value/,
      ),
      expect.stringMatching(
        /^spec.bgp.advertisements\[4\].serviceSelector.matchLabels\["bad key!"\]: is not a valid label key/,
      ),
      expect.stringMatching(/^spec.bgp.advertisements\[1\].name: x is used twice/),
    ]);
  });

  test('at most 9 entries (FRR route-map sequence numbers below the catch-all)', () => {
    const ten = Array.from({ length: 10 }, (_, i) => ({ serviceGroups: [`g${i}`], communities: ['1:1'] }));
    expect(problems(ten)).toEqual([expect.stringMatching(/has 10 entries; at most 9/)]);
  });
});

describe('label selectors', () => {
  const sel = (v: unknown) =>
    parseLabelSelector(v, 's', (f, m) => {
      throw new Error(`${f}: ${m}`);
    })!;
  test.each([
    [{ matchLabels: { a: '1' } }, { a: '1', b: '2' }, true],
    [{ matchLabels: { a: '1' } }, { a: '2' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }, { a: '2' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, { a: '1' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }, false],
    [{}, { anything: 'x' }, true],
  ])('%j matches %j: %p', (s, labels, want) => {
    expect(selectorMatches(sel(s), labels)).toBe(want);
  });
});

describe('which entry decides a prefix', () => {
  const bgp = bgpOf(
    [
      { name: 'gold', serviceSelector: { matchLabels: { tier: 'gold' } }, communities: ['65000:300'] },
      { name: 'web', serviceGroups: ['web'], localPref: 50 },
      { name: 'both', serviceGroups: ['db'], serviceSelector: { matchLabels: { tier: 'gold' } }, communities: ['1:1'] },
    ],
    65000,
    { communities: ['65000:100'], localPref: 100 },
  );
  const s = (key: string, labels: Record<string, string>, groups = ['default']) => ({ key, labels, groups });

  test('first matching entry wins; labels and groups are ANDed within an entry; aggregates take the first entry of any Service behind them', () => {
    const decided = prefixAdvertisements(bgp, {
      '10.0.0.1/32': [s('a/gold', { tier: 'gold' }, ['web'])], // gold before web
      '10.0.0.2/32': [s('a/web', {}, ['web'])],
      '10.0.0.3/32': [s('a/db', { tier: 'silver' }, ['db'])], // "both" needs tier gold too
      '10.1.0.5/24': [s('a/plain', {}), s('a/w', {}, ['web'])],
      '10.1.0.6/24': [s('a/g', { tier: 'gold' })],
      'fd00::1/128': [s('a/none', { tier: 'bronze' })],
    });
    expect(Object.fromEntries([...decided].map(([p, a]) => [p, a.name]))).toEqual({
      '10.0.0.1/32': 'gold',
      '10.0.0.2/32': 'web',
      '10.1.0.0/24': 'gold',
    });
  });

  test("an entry's unset fields keep the config-wide values", () => {
    const [gold, web] = bgp.advertisements!;
    expect(routeAttributes(bgp, gold)).toEqual({
      communities: ['65000:300'],
      largeCommunities: [],
      localPref: 100,
      asPathPrepend: 0,
    });
    expect(routeAttributes(bgp, web)).toEqual({
      communities: ['65000:100'],
      largeCommunities: [],
      localPref: 50,
      asPathPrepend: 0,
    });
    expect(routeAttributes(bgp)).toEqual({
      communities: ['65000:100'],
      largeCommunities: [],
      localPref: 100,
      asPathPrepend: 0,
    });
  });

  test('the re-render key changes only when a prefix moves between entries', () => {
    const before = { '10.0.0.1/32': [s('a/x', { tier: 'gold' })], '10.0.0.9/32': [s('a/y', {})] };
    const key = advertisementsKey(bgp, before);
    expect(advertisementsKey(bgp, { ...before, '10.0.0.9/32': [s('a/y', { other: 'label' })] })).toBe(key);
    expect(advertisementsKey(bgp, { ...before, '10.0.0.9/32': [s('a/y', { tier: 'gold' })] })).not.toBe(key);
    expect(advertisementsKey(bgpOf(undefined), before)).toBe('');
  });
});

test('the agent hands labels and the allocated-from groups of the Services behind an address', () => {
  const input = serviceInput({
    metadata: {
      namespace: 'ns',
      name: 'web',
      labels: { tier: 'gold' },
      annotations: { 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'web, extra' },
    },
    status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } },
  })!;
  expect(addressServices(['ns/web', 'ns/gone'], new Map([[input.key, input]]))).toEqual([
    { key: 'ns/web', labels: { tier: 'gold' }, groups: ['web', 'extra'] },
  ]);
});
