// The ServiceGroup CRD on the real apiserver: PureLB v1 manifests apply unchanged, and the CEL rules
// refuse at admission what they can check (the validator catches the rest: order, overlaps, names).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { parseServiceGroup } from '../../src/api/validate-servicegroup.ts';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace } from '../harness/kube.ts';
import { sgApi } from './allocator-fixtures.ts';

let kc: KubeConfig;
let ns: string;

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
  ns = await freshNamespace(kc, 'sg-crd');
});

afterAll(cleanUpNamespaces);

const create = (name: string, local: Record<string, unknown>) =>
  kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...sgApi,
    namespace: ns,
    body: { apiVersion: 'purelb.io/v1', kind: 'ServiceGroup', metadata: { name }, spec: { local } },
  });

/** The apiserver's message for a refused create ('' when it was accepted). */
async function refusal(name: string, local: Record<string, unknown>): Promise<string> {
  try {
    await create(name, local);
    return '';
  } catch (err) {
    const e = err as { code?: number; body?: string };
    expect(e.code).toBe(422);
    return (JSON.parse(e.body ?? '{}') as { message?: string }).message ?? '';
  }
}

describe('accepted unchanged', () => {
  test.each([
    [
      'localaddrange',
      {
        v4pools: [{ aggregation: 'default', pool: '192.168.10.240-192.168.10.243', subnet: '192.168.10.0/24' }],
        v6pools: [{ aggregation: 'default', pool: 'fc00:270:154:0:8100::4/64', subnet: 'fc00:270:154::/64' }],
      },
    ],
    ['singular', { v4pool: { subnet: '10.31.188.64/26', pool: '10.31.188.64-10.31.188.126', aggregation: '/32' } }],
    ['legacy', { subnet: '192.168.1.0/24', pool: '192.168.1.0/24', aggregation: 'default' }],
    ['legacy-v6', { subnet: 'fd00:1::/64', pool: 'fd00:1::10-fd00:1::20', aggregation: '/128' }],
  ])('%s', async (name, local) => {
    expect(await refusal(name, local)).toBe('');
    const stored = (await kc
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({ ...sgApi, namespace: ns, name })) as { spec: unknown };
    expect(stored.spec).toEqual({ local }); // nothing pruned or defaulted away
  });
});

describe('refused at admission', () => {
  test.each([
    ['pool-outside', { v4pool: { pool: '10.0.1.0-10.0.1.9', subnet: '10.0.0.0/24' } }, 'pool must lie inside subnet'],
    ['cidr-outside', { v4pools: [{ pool: '10.0.0.0/16', subnet: '10.0.0.0/24' }] }, 'pool must lie inside subnet'],
    ['mixed', { v6pool: { pool: 'fd00::1-10.0.0.1', subnet: 'fd00::/64' } }, 'pool must lie inside subnet'],
    ['octal', { v4pool: { pool: '010.0.0.1-10.0.0.9', subnet: '10.0.0.0/24' } }, 'pool must be a CIDR'],
    [
      'v6-in-v4',
      { v4pool: { pool: 'fd00::1-fd00::9', subnet: 'fd00::/64' } },
      'subnet must be an IPv4 CIDR in a v4pool',
    ],
    [
      'agg-v4',
      { v4pool: { pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24', aggregation: '/64' } },
      'aggregation must be "default" or /0../32 for IPv4',
    ],
    [
      'legacy-agg',
      { subnet: '10.0.0.0/24', pool: '10.0.0.1-10.0.0.9', aggregation: '/33' },
      'legacy form: aggregation must be',
    ],
    ['legacy-out', { subnet: '10.0.0.0/24', pool: '10.9.0.1-10.9.0.9' }, 'legacy form: pool must lie inside subnet'],
    ['legacy-half', { subnet: '10.0.0.0/24' }, 'must be set together'],
    ['empty', {}, 'spec.local needs a pool'],
  ])('%s', async (name, local, message) => {
    expect(await refusal(name, local)).toContain(message);
    // the offline validator refuses the same object
    expect(parseServiceGroup({ metadata: { name, namespace: ns }, spec: { local } }).problems).not.toEqual([]);
  });

  test('what CEL cannot check passes admission and is left to the validator (from > to)', async () => {
    const local = { v4pool: { pool: '10.0.0.9-10.0.0.1', subnet: '10.0.0.0/24' } };
    expect(await refusal('reversed', local)).toBe('');
    expect(
      parseServiceGroup({ metadata: { name: 'reversed', namespace: ns }, spec: { local } }).problems[0]?.message,
    ).toBe('range start 10.0.0.9 is after its end 10.0.0.1; write "from-to" with from <= to');
  });
});
