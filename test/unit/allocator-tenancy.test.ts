// Pools per tenant: ServiceGroup spec.serviceAllocation scopes, namespace defaults and reserved groups
// (spec.autoAssign false), as the validator reads them and the pure policy enforces them.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import { validateObjects } from '../../src/api/validate.ts';
import { parseServiceGroup, type ServiceGroupConfig } from '../../src/api/validate-servicegroup.ts';
import { formatProblem } from '../../src/api/validation.ts';
import { applyPlan, planAllocation, type Plan } from '../../src/allocator/policy.ts';
import { readRequest } from '../../src/allocator/request.ts';
import { AllocationState } from '../../src/allocator/state.ts';
import { resolveGroups } from '../../src/model/servicegroups.ts';

// each group's pool is 10.0.<octet>.1-9, so expected addresses name their group
const OCTET: Record<string, number> = {
  default: 8,
  shop: 9,
  labelled: 10,
  web: 11,
  reserved: 12,
  shopweb: 14,
  a: 21,
  b: 22,
};
const sgObject = (name: string, extra: Record<string, unknown> = {}, third = OCTET[name] ?? 30) => ({
  apiVersion: 'purelb.io/v1',
  kind: 'ServiceGroup',
  metadata: { name, namespace: 'purelb', uid: `uid-${name}`, generation: 1 },
  spec: { local: { v4pool: { pool: `10.0.${third}.1-10.0.${third}.9`, subnet: `10.0.${third}.0/24` } }, ...extra },
});

function group(name: string, extra: Record<string, unknown> = {}): ServiceGroupConfig {
  const parsed = parseServiceGroup(sgObject(name, extra));
  if (!parsed.config) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

const problemsOf = (obj: unknown) => parseServiceGroup(obj).problems.map(formatProblem);

function svc(
  name: string,
  namespace: string,
  o: { group?: string; pin?: string; labels?: Record<string, string> } = {},
) {
  return {
    metadata: {
      name,
      namespace,
      labels: o.labels ?? {},
      annotations: {
        ...(o.group ? { 'purelb.io/service-group': o.group } : {}),
        ...(o.pin ? { 'purelb.io/addresses': o.pin } : {}),
      },
    },
    spec: { type: 'LoadBalancer', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', ports: [{ port: 80 }] },
  } as V1Service;
}

function allocate(state: AllocationState, s: V1Service, nsLabels?: Record<string, string>) {
  const req = readRequest(s, nsLabels);
  const plan: Plan = planAllocation(req, state);
  if (plan.ok) applyPlan(req, plan, state);
  return { plan, held: state.held(req.service).map((h) => `${h.group} ${h.text}`) };
}

const withGroups = (...groups: ServiceGroupConfig[]) => {
  const state = new AllocationState();
  state.setGroups(groups);
  return state;
};

describe('validation', () => {
  test('PureLB v1 groups parse unchanged: unscoped, auto-assigned, no namespace default', () => {
    expect(group('default').tenancy).toEqual({ autoAssign: true, namespaceDefault: false });
  });
  test('scope fields parse into names and selectors', () => {
    const t = group('shop', {
      autoAssign: true,
      serviceAllocation: {
        namespaces: ['shop'],
        namespaceSelectors: [{ matchLabels: { team: 'shop' } }],
        serviceSelectors: [{ matchExpressions: [{ key: 'example.com/tier', operator: 'In', values: ['web'] }] }],
        namespaceDefault: true,
      },
    }).tenancy;
    expect(t).toEqual({
      autoAssign: true,
      namespaceDefault: true,
      scope: {
        namespaces: ['shop'],
        namespaceSelectors: [{ matchLabels: { team: 'shop' }, matchExpressions: [] }],
        serviceSelectors: [
          { matchLabels: {}, matchExpressions: [{ key: 'example.com/tier', operator: 'In', values: ['web'] }] },
        ],
      },
    });
  });
  test.each([
    [
      'namespaceDefault without namespaces',
      { serviceAllocation: { namespaceDefault: true, namespaceSelectors: [{ matchLabels: { a: 'b' } }] } },
      'spec.serviceAllocation.namespaceDefault: needs spec.serviceAllocation.namespaces',
    ],
    [
      'a reserved group that is a namespace default',
      { autoAssign: false, serviceAllocation: { namespaces: ['a'], namespaceDefault: true } },
      'spec.autoAssign: false (reserved for Services that name the group) contradicts serviceAllocation.namespaceDefault true',
    ],
    [
      'an operator that does not exist',
      { serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Equals' }] }] } },
      'spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist, got "Equals"',
    ],
    [
      'In without values',
      { serviceAllocation: { namespaceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] } },
      'spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0].values: operator In needs at least one value',
    ],
    [
      'a malformed label key',
      { serviceAllocation: { serviceSelectors: [{ matchLabels: { 'bad key': 'x' } }] } },
      'spec.serviceAllocation.serviceSelectors[0].matchLabels["bad key"]: is not a valid label key',
    ],
    [
      'a namespace that is not a DNS label',
      { serviceAllocation: { namespaces: ['Shop'] } },
      'spec.serviceAllocation.namespaces[0]: "Shop" is not a namespace name',
    ],
    [
      'a misspelt field',
      { serviceAllocation: { namespace: ['shop'] } },
      'spec.serviceAllocation.namespace: unknown field',
    ],
  ])('%s is refused naming the field', (_what, extra, expected) => {
    expect(problemsOf(sgObject('x', extra)).join('\n')).toContain(expected);
  });
  test('the group named "default" cannot be reserved', () => {
    expect(problemsOf(sgObject('default', { autoAssign: false }))).toEqual([
      expect.stringContaining('ServiceGroup purelb/default: spec.autoAssign: false contradicts the name "default"'),
    ]);
  });
  test('two groups claiming one namespace as default: the set check and resolveGroups refuse the later one', () => {
    const a = sgObject('a', { serviceAllocation: { namespaces: ['shop', 'web'], namespaceDefault: true } });
    const b = sgObject('b', { serviceAllocation: { namespaces: ['web'], namespaceDefault: true } });
    expect(validateObjects([a, b]).map(formatProblem)).toEqual([
      expect.stringContaining(
        'ServiceGroup purelb/b: spec.serviceAllocation.namespaceDefault: true, but ServiceGroup purelb/a is already the default of namespace web',
      ),
    ]);
    const verdicts = resolveGroups([a, b] as KubernetesObject[], new Map());
    expect(verdicts.map((v) => [v.name, !!v.serving])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(formatProblem(verdicts[1]!.problems[0]!)).toContain('already the default of namespace web');
  });
});

describe('policy', () => {
  const scoped = () =>
    withGroups(
      group('default'),
      group('shop', { serviceAllocation: { namespaces: ['shop'], namespaceDefault: true } }),
      group('labelled', { serviceAllocation: { namespaceSelectors: [{ matchLabels: { tenant: 'gold' } }] } }),
      group('web', { serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: 'web' } }] } }),
      group('reserved', { autoAssign: false }),
    );

  test('a Service in scope that names the group gets an address', () => {
    const s = scoped();
    expect(allocate(s, svc('a', 'shop', { group: 'shop' })).held).toEqual(['shop 10.0.9.1']);
    expect(allocate(s, svc('b', 'other', { group: 'labelled' }), { tenant: 'gold' }).held).toEqual([
      'labelled 10.0.10.1',
    ]);
    expect(allocate(s, svc('c', 'other', { group: 'web', labels: { tier: 'web' } })).held).toEqual(['web 10.0.11.1']);
  });
  test('a Service outside the scope that names the group is refused, naming Service, group, field and fix', () => {
    const s = scoped();
    const r = allocate(s, svc('a', 'other', { group: 'shop' }));
    expect(r.plan).toMatchObject({ ok: false, reason: 'out-of-scope' });
    expect(r.plan.ok || r.plan.message).toBe(
      'Service other/a may not use ServiceGroup shop (purelb.io/service-group): namespace other is not in serviceAllocation.namespaces [shop] of ServiceGroup shop; name a group that admits it in purelb.io/service-group, or widen spec.serviceAllocation of ServiceGroup shop',
    );
    expect(r.held).toEqual([]);
    expect(allocate(s, svc('b', 'other', { group: 'labelled' }), { tenant: 'silver' }).plan).toMatchObject({
      ok: false,
      message: expect.stringContaining('namespace other is not in serviceAllocation.namespaceSelectors'),
    });
    expect(allocate(s, svc('c', 'other', { group: 'web', labels: { tier: 'db' } })).plan).toMatchObject({
      ok: false,
      message: expect.stringContaining('its labels match no serviceAllocation.serviceSelectors entry'),
    });
  });
  test('namespace labels not known yet: refused, saying so', () => {
    expect(allocate(scoped(), svc('a', 'x', { group: 'labelled' })).plan).toMatchObject({
      ok: false,
      message: expect.stringContaining('namespace x (its labels are not known yet) is not in'),
    });
  });
  test('a pinned address is refused when its group does not admit the Service', () => {
    const r = allocate(scoped(), svc('a', 'other', { pin: '10.0.9.5' }));
    expect(r.plan).toMatchObject({
      ok: false,
      reason: 'out-of-scope',
      message: expect.stringContaining('may not use ServiceGroup shop (purelb.io/addresses pins 10.0.9.5)'),
    });
  });
  test('a Service that names no group gets its namespace default, elsewhere "default"', () => {
    const s = scoped();
    expect(allocate(s, svc('a', 'shop')).held).toEqual(['shop 10.0.9.1']);
    expect(allocate(s, svc('b', 'other')).held).toEqual(['default 10.0.8.1']);
  });
  test('a reserved group is used only when named, never as a default', () => {
    const s = scoped();
    expect(allocate(s, svc('a', 'x', { group: 'reserved' })).held).toEqual(['reserved 10.0.12.1']);
    expect(allocate(s, svc('b', 'x')).held).toEqual(['default 10.0.8.1']);
    expect(allocate(s, svc('c', 'x', { pin: '10.0.12.7' })).held).toEqual(['reserved 10.0.12.7']);
  });
  test('a namespace default whose serviceSelectors exclude the Service leaves it to "default"', () => {
    const s = withGroups(
      group('default'),
      group('shopweb', {
        serviceAllocation: {
          namespaces: ['shop'],
          serviceSelectors: [{ matchLabels: { tier: 'web' } }],
          namespaceDefault: true,
        },
      }),
    );
    expect(allocate(s, svc('a', 'shop', { labels: { tier: 'web' } })).held).toEqual(['shopweb 10.0.14.1']);
    expect(allocate(s, svc('b', 'shop')).held).toEqual(['default 10.0.8.1']);
  });
  test('a namespace default added, removed or narrowed later moves no address', () => {
    const dflt = group('default');
    const listed = group('shop', { serviceAllocation: { namespaces: ['shop'] } });
    const asDefault = group('shop', { serviceAllocation: { namespaces: ['shop'], namespaceDefault: true } });
    const narrowed = group('shop', { serviceAllocation: { namespaces: ['other'] } });
    const s = withGroups(dflt, listed);
    expect(allocate(s, svc('a', 'shop')).held).toEqual(['default 10.0.8.1']);
    s.setGroups([dflt, asDefault]);
    expect(allocate(s, svc('a', 'shop')).plan).toMatchObject({ ok: true, add: [], release: [] });
    expect(allocate(s, svc('b', 'shop')).held).toEqual(['shop 10.0.9.1']);
    s.setGroups([dflt, listed]);
    expect(allocate(s, svc('b', 'shop')).plan).toMatchObject({ ok: true, add: [], release: [] });
    expect(allocate(s, svc('c', 'shop')).held).toEqual(['default 10.0.8.2']);
    s.setGroups([dflt, narrowed]);
    const kept = allocate(s, svc('b', 'shop'));
    expect(kept.plan).toMatchObject({ ok: true, add: [], release: [], outOfScope: [{ text: '10.0.9.1' }] });
    expect(kept.plan.warnings).toEqual([expect.stringContaining('keeps 10.0.9.1 of ServiceGroup shop although')]);
  });
  test('an unscoped (PureLB v1) group: dropping the annotation moves the Service to "default", as before', () => {
    const s = withGroups(group('default'), group('shop'));
    expect(allocate(s, svc('a', 'x', { group: 'shop' })).held).toEqual(['shop 10.0.9.1']);
    expect(allocate(s, svc('a', 'x')).held).toEqual(['default 10.0.8.1']);
  });
  test('a reserved group: dropping the annotation moves the Service to its default', () => {
    const s = scoped();
    expect(allocate(s, svc('a', 'x', { group: 'reserved' })).held).toEqual(['reserved 10.0.12.1']);
    expect(allocate(s, svc('a', 'x')).held).toEqual(['default 10.0.8.1']);
  });
  test('a narrowed scope keeps the address, warns and lists it; new Services are refused', () => {
    const wide = group('shop', { serviceAllocation: { namespaces: ['shop', 'old'] } });
    const narrow = { ...wide, tenancy: group('x', { serviceAllocation: { namespaces: ['shop'] } }).tenancy };
    const s = withGroups(group('default'), wide);
    expect(allocate(s, svc('a', 'old', { group: 'shop' })).held).toEqual(['shop 10.0.9.1']);
    s.setGroups([group('default'), narrow]);
    const kept = allocate(s, svc('a', 'old', { group: 'shop' }));
    expect(kept.held).toEqual(['shop 10.0.9.1']);
    expect(kept.plan).toMatchObject({ ok: true, add: [], release: [], outOfScope: [{ text: '10.0.9.1' }] });
    expect(kept.plan.warnings).toEqual([
      'keeps 10.0.9.1 of ServiceGroup shop although namespace old is not in serviceAllocation.namespaces [shop] (the scope was narrowed after the address was assigned); addresses are never taken away: delete the Service or change its request to release it, or widen spec.serviceAllocation',
    ]);
    expect(allocate(s, svc('b', 'old', { group: 'shop' })).plan).toMatchObject({ ok: false, reason: 'out-of-scope' });
  });
  test('a rebuilt state (restart) reassigns nothing, in or out of scope', () => {
    const s = scoped();
    const services = [
      svc('a', 'shop'),
      svc('b', 'other', { group: 'reserved' }),
      svc('c', 'x', { group: 'web', labels: { tier: 'web' } }),
    ];
    for (const x of services) allocate(s, x);
    const rebuilt = withGroups(...s.pools.configs.values());
    for (const [service, held] of s.services()) for (const h of held) rebuilt.hold({ service, ports: ['TCP/80'] }, h);
    for (const x of services) expect(allocate(rebuilt, x).plan).toMatchObject({ ok: true, add: [], release: [] });
  });
});
