// Allocation policy tables: pool syntax and order as PureLB v1, family policies, pinned addresses,
// sharing, request changes and pool edits; plus property tests over random workloads.
import { describe, expect, test } from '@jest/globals';
import type { V1Service } from '@kubernetes/client-node';
import fc from 'fast-check';
import { parseServiceGroup, type ServiceGroupConfig } from '../../src/api/validate-servicegroup.ts';
import { applyPlan, planAllocation, type Plan } from '../../src/allocator/policy.ts';
import { readRequest } from '../../src/allocator/request.ts';
import { AllocationState } from '../../src/allocator/state.ts';

type Pool = { pool: string; subnet: string; aggregation?: string };

function group(name: string, local: Record<string, unknown>): ServiceGroupConfig {
  const parsed = parseServiceGroup({
    apiVersion: 'purelb.io/v1',
    kind: 'ServiceGroup',
    metadata: { name, namespace: 'purelb' },
    spec: { local },
  });
  if (!parsed.config) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

interface SvcOpts {
  annotations?: Record<string, string>;
  families?: Array<'IPv4' | 'IPv6'>;
  policy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  ports?: Array<[string, number]>;
  loadBalancerIP?: string;
}

function svc(name: string, o: SvcOpts = {}): V1Service {
  return {
    metadata: { name, namespace: 'ns', annotations: o.annotations ?? {} },
    spec: {
      type: 'LoadBalancer',
      ipFamilies: o.families ?? ['IPv4'],
      ipFamilyPolicy: o.policy ?? 'SingleStack',
      ports: (o.ports ?? [['TCP', 80]]).map(([protocol, port]) => ({ protocol, port })),
      ...(o.loadBalancerIP ? { loadBalancerIP: o.loadBalancerIP } : {}),
    },
  };
}

/** Plans and commits; returns the plan and the service's addresses afterwards. */
function allocate(state: AllocationState, s: V1Service): { plan: Plan; ips: string[] } {
  const req = readRequest(s);
  const plan = planAllocation(req, state);
  if (plan.ok) applyPlan(req, plan, state);
  return { plan, ips: state.held(req.service).map((h) => h.text) };
}

const withGroups = (...groups: ServiceGroupConfig[]) => {
  const state = new AllocationState();
  state.setGroups(groups);
  return state;
};

const single = (name: string, pool: Pool) => group(name, { v4pool: pool });

describe('pool syntax and order (PureLB v1)', () => {
  test.each([
    ['10.31.188.64-10.31.188.126', '10.31.188.64/26', ['10.31.188.64', '10.31.188.65', '10.31.188.66']],
    ['10.189.0.0-10.189.255.254', '10.189.0.0/16', ['10.189.0.0', '10.189.0.1', '10.189.0.2']],
    ['192.168.1.0/24', '192.168.1.0/24', ['192.168.1.0', '192.168.1.1', '192.168.1.2']],
    ['192.168.1.250/24', '192.168.1.0/24', ['192.168.1.250', '192.168.1.251', '192.168.1.252']],
  ])('pool %s hands out %j to three Services in order', (pool, subnet, expected) => {
    const state = withGroups(single('default', { pool, subnet }));
    expect(['a', 'b', 'c'].map((n) => allocate(state, svc(n)).ips[0])).toEqual(expected);
  });

  test('an IPv6 CIDR pool starts at the address as written', () => {
    const state = withGroups(
      group('default', { v6pools: [{ pool: 'fc00:270:154:0:8100::4/64', subnet: 'fc00:270:154::/64' }] }),
    );
    expect(allocate(state, svc('a', { families: ['IPv6'] })).ips).toEqual(['fc00:270:154:0:8100::4']);
    expect(allocate(state, svc('b', { families: ['IPv6'] })).ips).toEqual(['fc00:270:154:0:8100::5']);
  });

  test('ranges are used in declaration order, not address order, and the list comes before the singular field', () => {
    const state = withGroups(
      group('default', {
        v4pools: [
          { pool: '10.0.9.0-10.0.9.0', subnet: '10.0.9.0/24' },
          { pool: '10.0.1.0-10.0.1.1', subnet: '10.0.1.0/24' },
        ],
        v4pool: { pool: '10.0.0.1-10.0.0.1', subnet: '10.0.0.0/24' },
      }),
    );
    expect(['a', 'b', 'c', 'd'].map((n) => allocate(state, svc(n)).ips[0])).toEqual([
      '10.0.9.0',
      '10.0.1.0',
      '10.0.1.1',
      '10.0.0.1',
    ]);
    const e = allocate(state, svc('e'));
    expect(e.plan).toMatchObject({ ok: false, reason: 'exhausted' });
  });

  test('exhaustion, then a release makes the address available again', () => {
    const state = withGroups(single('default', { pool: '10.0.0.1-10.0.0.2', subnet: '10.0.0.0/24' }));
    allocate(state, svc('a'));
    allocate(state, svc('b'));
    const c = allocate(state, svc('c'));
    expect(c.plan).toMatchObject({
      ok: false,
      reason: 'exhausted',
      message: expect.stringContaining('ServiceGroup default has no free IPv4 address'),
    });
    expect(state.release('ns/a').map((h) => h.text)).toEqual(['10.0.0.1']);
    expect(allocate(state, svc('c')).ips).toEqual(['10.0.0.1']);
  });
});

describe('group choice', () => {
  const state = () =>
    withGroups(
      single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }),
      single('other', { pool: '10.1.0.1-10.1.0.9', subnet: '10.1.0.0/24' }),
    );
  test('purelb.io/service-group selects the group, default otherwise', () => {
    const s = state();
    expect(allocate(s, svc('a', { annotations: { 'purelb.io/service-group': 'other' } })).ips).toEqual(['10.1.0.1']);
    expect(allocate(s, svc('b')).ips).toEqual(['10.0.0.1']);
    expect(s.held('ns/a')[0]!.group).toBe('other');
  });
  test('an unknown group is refused with the fix', () => {
    expect(allocate(state(), svc('a', { annotations: { 'purelb.io/service-group': 'nope' } })).plan).toMatchObject({
      ok: false,
      reason: 'unknown-group',
      message: expect.stringContaining('ServiceGroup "nope", which does not exist'),
    });
  });
  test('pinned addresses find their pool; a trimmed comma list gives one per family; the group annotation is ignored with a warning', () => {
    const s = withGroups(
      group('dual', {
        v4pool: { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' },
        v6pool: { pool: 'fd00::1-fd00::9', subnet: 'fd00::/64' },
      }),
      single('default', { pool: '10.9.0.1-10.9.0.9', subnet: '10.9.0.0/24' }),
    );
    const r = allocate(
      s,
      svc('a', {
        families: ['IPv4', 'IPv6'],
        policy: 'RequireDualStack',
        annotations: { 'purelb.io/addresses': ' 10.0.0.5 , fd00::5 ', 'purelb.io/service-group': 'default' },
      }),
    );
    expect(r.ips).toEqual(['10.0.0.5', 'fd00::5']);
    expect(r.plan.warnings).toEqual([
      'purelb.io/service-group "default" is ignored: purelb.io/addresses pins 10.0.0.5, which is in ServiceGroup dual',
      'purelb.io/service-group "default" is ignored: purelb.io/addresses pins fd00::5, which is in ServiceGroup dual',
    ]);
    expect(allocate(s, svc('b', { loadBalancerIP: '10.9.0.7' })).ips).toEqual(['10.9.0.7']);
  });
  test.each([
    [{ 'purelb.io/addresses': '10.7.7.7' }, 'outside-pools', 'in no ServiceGroup pool'],
    [{ 'purelb.io/addresses': '010.0.0.5' }, 'invalid-request', '"010.0.0.5" is not an IP address'],
    [{ 'purelb.io/addresses': '10.0.0.5,10.0.0.6' }, 'invalid-request', 'at most one address per family'],
    [{ 'purelb.io/addresses': 'fd00::5' }, 'family-mismatch', 'spec.ipFamilies is [IPv4]'],
  ])('pinned %j is refused (%s)', (annotations, reason, text) => {
    expect(allocate(state(), svc('a', { annotations })).plan).toMatchObject({
      ok: false,
      reason,
      message: expect.stringContaining(text),
    });
  });
  test('a pinned address in use is refused; the holder keeps it', () => {
    const s = state();
    allocate(s, svc('a'));
    expect(allocate(s, svc('b', { annotations: { 'purelb.io/addresses': '10.0.0.1' } })).plan).toMatchObject({
      ok: false,
      reason: 'in-use',
      message: '10.0.0.1 is in use by ns/a (without purelb.io/allow-shared-ip)',
    });
    expect(s.held('ns/a').map((h) => h.text)).toEqual(['10.0.0.1']);
  });
});

describe('families', () => {
  const v4only = () => withGroups(single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }));
  test('RequireDualStack against a v4-only group fails and assigns nothing', () => {
    const s = v4only();
    const r = allocate(s, svc('a', { families: ['IPv4', 'IPv6'], policy: 'RequireDualStack' }));
    expect(r.plan).toMatchObject({
      ok: false,
      reason: 'no-pool-for-family',
      message: expect.stringContaining('has no IPv6 pool'),
    });
    expect(r.ips).toEqual([]);
  });
  test('PreferDualStack against a v4-only group degrades to IPv4 with a warning', () => {
    const r = allocate(v4only(), svc('a', { families: ['IPv6', 'IPv4'], policy: 'PreferDualStack' }));
    expect(r.ips).toEqual(['10.0.0.1']);
    expect(r.plan.warnings).toEqual(['PreferDualStack: ServiceGroup default has no IPv6 pool; assigned IPv4 only']);
  });
  test('PreferDualStack with no family left: one refusal naming each family, the group and the fix', () => {
    const s = withGroups(single('default', { pool: '10.0.0.1-10.0.0.1', subnet: '10.0.0.0/24' }));
    allocate(s, svc('a'));
    expect(allocate(s, svc('b', { families: ['IPv4', 'IPv6'], policy: 'PreferDualStack' })).plan).toMatchObject({
      ok: false,
      reason: 'exhausted',
      message:
        'ServiceGroup default has no free IPv4 address and no IPv6 pool (ipFamilyPolicy PreferDualStack needs one of them); release an address or add a pool',
    });
  });
  test('a family added to a Service keeps the existing address; a family dropped is released', () => {
    const s = withGroups(
      group('default', {
        v4pool: { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' },
        v6pool: { pool: 'fd00::1-fd00::9', subnet: 'fd00::/64' },
      }),
    );
    expect(allocate(s, svc('a')).ips).toEqual(['10.0.0.1']);
    const dual = allocate(s, svc('a', { families: ['IPv4', 'IPv6'], policy: 'RequireDualStack' }));
    expect(dual.plan).toMatchObject({
      ok: true,
      keep: [{ text: '10.0.0.1' }],
      add: [{ text: 'fd00::1' }],
      release: [],
    });
    const back = allocate(s, svc('a'));
    expect(back.plan).toMatchObject({
      ok: true,
      keep: [{ text: '10.0.0.1' }],
      add: [],
      release: [{ text: 'fd00::1' }],
    });
    expect(back.ips).toEqual(['10.0.0.1']);
  });
  test('dual stack gets one address per family; SingleStack takes the first family', () => {
    const s = withGroups(
      group('default', {
        v4pool: { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' },
        v6pool: { pool: 'fd00::1-fd00::9', subnet: 'fd00::/64' },
      }),
    );
    expect(allocate(s, svc('a', { families: ['IPv6', 'IPv4'], policy: 'RequireDualStack' })).ips).toEqual([
      '10.0.0.1',
      'fd00::1',
    ]);
    expect(allocate(s, svc('b', { families: ['IPv6'] })).ips).toEqual(['fd00::2']);
  });
});

describe('sharing', () => {
  const share = (name: string, key: string, ports: Array<[string, number]>) =>
    svc(name, { annotations: { 'purelb.io/allow-shared-ip': key }, ports });
  test('same key and disjoint (protocol, port) share one address; overlap is refused', () => {
    const s = withGroups(single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }));
    expect(allocate(s, share('a', 'k', [['TCP', 80]])).ips).toEqual(['10.0.0.1']);
    expect(
      allocate(
        s,
        share('b', 'k', [
          ['UDP', 80],
          ['TCP', 443],
        ]),
      ).ips,
    ).toEqual(['10.0.0.1']);
    expect(allocate(s, share('c', 'k', [['TCP', 443]])).plan).toMatchObject({
      ok: false,
      reason: 'port-conflict',
      message: '10.0.0.1 is shared with ns/b (key "k") and both use TCP/443',
    });
    expect(allocate(s, share('d', 'other', [['TCP', 22]])).ips).toEqual(['10.0.0.2']);
    expect(allocate(s, svc('e')).ips).toEqual(['10.0.0.3']);
    // the address is free again only when its last sharer leaves
    s.release('ns/a');
    expect(allocate(s, svc('f')).ips).toEqual(['10.0.0.4']);
    s.release('ns/b');
    expect(allocate(s, svc('g')).ips).toEqual(['10.0.0.1']);
  });
  test('a pinned address shared by key needs the same key', () => {
    const s = withGroups(single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }));
    allocate(s, share('a', 'k', [['TCP', 80]]));
    expect(
      allocate(
        s,
        svc('b', {
          annotations: { 'purelb.io/addresses': '10.0.0.1', 'purelb.io/allow-shared-ip': 'x' },
          ports: [['TCP', 81]],
        }),
      ).plan,
    ).toMatchObject({ ok: false, reason: 'in-use' });
    expect(
      allocate(
        s,
        svc('c', {
          annotations: { 'purelb.io/addresses': '10.0.0.1', 'purelb.io/allow-shared-ip': 'k' },
          ports: [['TCP', 81]],
        }),
      ).ips,
    ).toEqual(['10.0.0.1']);
  });
});

describe('request changes, restarts and pool edits', () => {
  test('changing the group moves the address; an unchanged request keeps it', () => {
    const s = withGroups(
      single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }),
      single('other', { pool: '10.1.0.1-10.1.0.9', subnet: '10.1.0.0/24' }),
    );
    allocate(s, svc('a'));
    const again = allocate(s, svc('a'));
    expect(again.plan).toMatchObject({ ok: true, add: [], release: [] });
    const moved = allocate(s, svc('a', { annotations: { 'purelb.io/service-group': 'other' } }));
    expect(moved.ips).toEqual(['10.1.0.1']);
    expect(moved.plan).toMatchObject({ ok: true, release: [{ text: '10.0.0.1' }] });
    expect(allocate(s, svc('b')).ips).toEqual(['10.0.0.1']);
  });
  test('a changed request that cannot be met keeps the old address', () => {
    const s = withGroups(single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }));
    allocate(s, svc('a'));
    allocate(s, svc('b'));
    const r = allocate(s, svc('a', { annotations: { 'purelb.io/addresses': '10.0.0.2' } }));
    expect(r.plan).toMatchObject({ ok: false, reason: 'in-use' });
    expect(r.ips).toEqual(['10.0.0.1']);
  });
  test('removing the pin keeps the address when it is in the group asked for', () => {
    const s = withGroups(single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }));
    allocate(s, svc('a', { annotations: { 'purelb.io/addresses': '10.0.0.7' } }));
    expect(allocate(s, svc('a')).plan).toMatchObject({ ok: true, add: [], release: [], keep: [{ text: '10.0.0.7' }] });
  });
  test('a pool edit keeps addresses now outside every pool (with a warning) and never hands them out', () => {
    const s = withGroups(single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }));
    allocate(s, svc('a'));
    allocate(s, svc('b'));
    s.setGroups([single('default', { pool: '10.0.0.2-10.0.0.9', subnet: '10.0.0.0/24' })]);
    const a = allocate(s, svc('a'));
    expect(a.ips).toEqual(['10.0.0.1']);
    expect(a.plan.warnings[0]).toContain('10.0.0.1 is outside every pool');
    expect(s.outsidePools().map((o) => [o.service, o.held.text])).toEqual([['ns/a', '10.0.0.1']]);
    expect(allocate(s, svc('c')).ips).toEqual(['10.0.0.3']);
    expect(s.pools.stats('default')[4]).toEqual({ size: 8n, free: 6n });
  });
  test('a conflict found in Service status is kept for both, with a warning naming the other', () => {
    const s = withGroups(single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' }));
    const held = { ip: { family: 4 as const, value: 0x0a000001n }, text: '10.0.0.1', group: 'default' };
    s.hold({ service: 'ns/a', ports: ['TCP/80'] }, held);
    s.hold({ service: 'ns/b', ports: ['TCP/80'] }, held);
    const b = allocate(s, svc('b'));
    expect(b.ips).toEqual(['10.0.0.1']);
    expect(b.plan.warnings).toEqual([
      '10.0.0.1 is in use by ns/a (without purelb.io/allow-shared-ip); neither loses it (addresses are never taken away): change the request of one of them',
    ]);
    s.release('ns/a');
    expect(allocate(s, svc('b')).plan.warnings).toEqual([]);
    expect(allocate(s, svc('c')).ips).toEqual(['10.0.0.2']); // still held by b
  });
  test('a state rebuilt from held addresses reassigns nothing', () => {
    const groups = [single('default', { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' })];
    const s = withGroups(...groups);
    for (const n of ['a', 'b', 'c']) allocate(s, svc(n));
    s.release('ns/b');
    const rebuilt = withGroups(...groups);
    for (const [service, held] of s.services()) for (const h of held) rebuilt.hold({ service, ports: ['TCP/80'] }, h);
    expect(allocate(rebuilt, svc('a')).plan).toMatchObject({ ok: true, add: [], release: [] });
    expect(allocate(rebuilt, svc('d')).ips).toEqual(['10.0.0.2']);
    expect(allocate(rebuilt, svc('e')).ips).toEqual(['10.0.0.4']);
  });
});

describe('properties', () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('alloc' as const),
      n: fc.integer({ min: 0, max: 15 }),
      key: fc.constantFrom(undefined, 'k1', 'k2'),
      port: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({ kind: fc.constant('release' as const), n: fc.integer({ min: 0, max: 15 }) }),
  );
  test('no address is held by two Services unless they share a key with disjoint ports; released addresses are reused lowest first', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const s = withGroups(single('default', { pool: '10.0.0.0-10.0.0.7', subnet: '10.0.0.0/24' }));
        const specs = new Map<string, { key?: string; port: number }>();
        for (const o of ops) {
          const name = `s${o.n}`;
          if (o.kind === 'release') {
            s.release(`ns/${name}`);
            specs.delete(name);
            continue;
          }
          const spec = specs.get(name) ?? { key: o.key, port: o.port };
          const before = new Set([...s.services()].flatMap(([, h]) => h.map((x) => x.text)));
          const r = allocate(
            s,
            svc(name, {
              annotations: spec.key ? { 'purelb.io/allow-shared-ip': spec.key } : {},
              ports: [['TCP', spec.port]],
            }),
          );
          if (r.plan.ok) specs.set(name, spec);
          if (r.plan.ok && r.plan.add.length && !spec.key) {
            // an unshared new address is the lowest free one
            const lowest = [...Array(8).keys()].map((i) => `10.0.0.${i}`).find((a) => !before.has(a));
            expect(r.ips).toEqual([lowest]);
          }
        }
        const byAddress = new Map<string, string[]>();
        for (const [service, held] of s.services())
          for (const h of held) byAddress.set(h.text, [...(byAddress.get(h.text) ?? []), service]);
        for (const holders of byAddress.values()) {
          if (holders.length < 2) continue;
          const hs = holders.map((h) => specs.get(h.split('/')[1]!)!);
          expect(new Set(hs.map((h) => h.key)).size).toBe(1);
          expect(hs[0]!.key).toBeDefined();
          expect(new Set(hs.map((h) => h.port)).size).toBe(hs.length);
        }
        const stats = s.pools.stats('default')[4];
        expect(stats.size - stats.free).toBe(BigInt(byAddress.size));
      }),
    );
  });
});
