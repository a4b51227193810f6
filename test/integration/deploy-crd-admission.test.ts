// The CRD schemas (OpenAPI + CEL, crds/*.yaml) reject invalid objects at admission with 422 and a
// message naming the field. Good objects in the same table prove the schemas do not just reject all.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { errorText } from '../../src/log.ts';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace } from '../harness/kube.ts';

let kc: KubeConfig;
let ns: string;

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
  ns = await freshNamespace(kc, 'deploy-crd');
});

afterAll(cleanUpNamespaces);

const plurals: Record<string, string> = {
  ServiceGroup: 'servicegroups',
  LBNodeAgent: 'lbnodeagents',
  RouterConfig: 'routerconfigs',
};

async function create(kind: string, spec: unknown, name: string): Promise<{ code: number; message: string }> {
  try {
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: plurals[kind]!,
      body: { apiVersion: 'purelb.io/v1', kind, metadata: { name }, spec },
    });
    return { code: 201, message: '' };
  } catch (err) {
    const e = err as { code?: number; body?: string };
    const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : {};
    return { code: e.code ?? 0, message: body.message ?? errorText(err) };
  }
}

const v4 = (pool: Record<string, string>) => ({ local: { v4pool: pool } });
const bgp = (bgpSpec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  daemon: 'bird',
  protocol: 'bgp',
  bgp: { localASN: 65001, peers: [{ address: '192.0.2.1', asn: 65000 }], ...bgpSpec },
  ...extra,
});
const peer = (p: Record<string, unknown>) => bgp({ peers: [{ address: '192.0.2.1', asn: 65000, ...p }] });

// [kind, case, spec, every string the 422 message must contain]
const bad: Array<[string, string, unknown, string[]]> = [
  ['ServiceGroup', 'no spec.local', {}, ['spec', 'spec must set local']],
  ['ServiceGroup', 'local without any pool', { local: {} }, ['spec.local', 'needs a pool']],
  [
    'ServiceGroup',
    'legacy pool without subnet',
    { local: { pool: '10.0.0.1-10.0.0.9' } },
    ['spec.local', 'must be set together'],
  ],
  [
    'ServiceGroup',
    'pool is neither CIDR nor range',
    v4({ pool: 'nonsense', subnet: '10.0.0.0/24' }),
    ['spec.local.v4pool', 'pool must be a CIDR'],
  ],
  [
    'ServiceGroup',
    'subnet is not a CIDR',
    v4({ pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0' }),
    ['spec.local.v4pool', 'subnet must be a CIDR'],
  ],
  [
    'ServiceGroup',
    'IPv6 subnet in v4pool',
    v4({ pool: 'fd00::1-fd00::9', subnet: 'fd00::/64' }),
    ['spec.local.v4pool', 'IPv4 CIDR in a v4pool'],
  ],
  [
    'ServiceGroup',
    'aggregation /33 for IPv4',
    v4({ pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24', aggregation: '/33' }),
    ['spec.local.v4pool', '/0../32'],
  ],
  [
    'ServiceGroup',
    'aggregation not default or /N',
    v4({ pool: '10.0.0.1-10.0.0.9', subnet: '10.0.0.0/24', aggregation: '24' }),
    ['spec.local.v4pool.aggregation', 'should match'],
  ],
  [
    'ServiceGroup',
    'v4pools entry without subnet',
    { local: { v4pools: [{ pool: '10.0.0.1-10.0.0.9' }] } },
    ['spec.local.v4pools[0].subnet', 'Required value'],
  ],
  [
    'LBNodeAgent',
    'extlbint longer than an interface name',
    { local: { extlbint: 'kube-lb0-much-too-long' } },
    ['spec.local.extlbint'],
  ],
  [
    'LBNodeAgent',
    'extlbint with a slash',
    { local: { extlbint: 'kube/lb0' } },
    ['spec.local.extlbint', 'should match'],
  ],
  ['LBNodeAgent', 'sendgarp not a boolean', { local: { sendgarp: 'yes' } }, ['spec.local.sendgarp', 'boolean']],
  [
    'RouterConfig',
    'unknown daemon',
    { daemon: 'quagga', protocol: 'bgp', bgp: { localASN: 1, peers: [{ address: '192.0.2.1', asn: 2 }] } },
    ['spec.daemon', 'Unsupported value'],
  ],
  [
    'RouterConfig',
    'GoBGP with OSPF',
    { daemon: 'gobgp', protocol: 'ospf', ospf: { interfaces: ['eth0'] } },
    ['spec', 'GoBGP has no OSPF'],
  ],
  [
    'RouterConfig',
    'protocol bgp without spec.bgp',
    { daemon: 'frr', protocol: 'bgp' },
    ['spec', 'protocol bgp needs spec.bgp'],
  ],
  ['RouterConfig', 'localASN 0', bgp({ localASN: 0 }), ['spec.bgp.localASN', 'greater than or equal to 1']],
  [
    'RouterConfig',
    'localASN 4294967295 (reserved)',
    bgp({ localASN: 4294967295 }),
    ['spec.bgp.localASN', 'less than or equal to 4294967294'],
  ],
  ['RouterConfig', 'no peers', bgp({ peers: [] }), ['spec.bgp.peers', 'at least 1']],
  [
    'RouterConfig',
    'peer address not an IP',
    peer({ address: 'router.example' }),
    ['spec.bgp.peers[0].address', 'IP literal'],
  ],
  [
    'RouterConfig',
    'keepalive not below hold time',
    peer({ holdTime: 9, keepaliveTime: 9 }),
    ['spec.bgp.peers[0]', 'keepaliveTime must be less than holdTime'],
  ],
  [
    'RouterConfig',
    'IPv6 family on an IPv4 peer',
    peer({ families: ['ipv6'] }),
    ['spec.bgp.peers[0]', 'family of its address'],
  ],
  [
    'RouterConfig',
    'description injecting config',
    peer({ description: 'x"; protocol static {' }),
    ['spec.bgp.peers[0].description', 'should match'],
  ],
  ['RouterConfig', 'routerID IPv6', bgp({ routerID: 'fd00::1' }), ['spec.bgp.routerID', 'IPv4']],
  [
    'RouterConfig',
    'advertisement selecting no Service',
    bgp({ advertisements: [{ communities: ['65000:1'] }] }),
    ['spec.bgp.advertisements[0]', 'set serviceSelector and/or serviceGroups'],
  ],
  [
    'RouterConfig',
    'advertisement without an attribute',
    bgp({ advertisements: [{ serviceGroups: ['web'] }] }),
    ['spec.bgp.advertisements[0]', 'sets communities, localPref and/or asPathPrepend'],
  ],
  [
    'RouterConfig',
    'advertisement community in daemon syntax',
    bgp({ advertisements: [{ serviceGroups: ['web'], communities: ['(65000,1)'] }] }),
    ['spec.bgp.advertisements[0].communities[0]', 'should match'],
  ],
  [
    'RouterConfig',
    'advertisement selector operator',
    bgp({
      advertisements: [
        { serviceSelector: { matchExpressions: [{ key: 'a', operator: 'Like' }] }, communities: ['65000:1'] },
      ],
    }),
    ['spec.bgp.advertisements[0].serviceSelector.matchExpressions[0].operator', 'Unsupported value'],
  ],
  [
    'RouterConfig',
    'OSPF interface name with a space',
    { daemon: 'bird', protocol: 'ospf', ospf: { interfaces: ['eth 0'] } },
    ['spec.ospf.interfaces[0]', 'should match'],
  ],
];

const good: Array<[string, string, unknown]> = [
  [
    'ServiceGroup',
    'PureLB v1 seed (v4pools + v6pools)',
    {
      local: {
        v4pools: [{ aggregation: 'default', pool: '192.168.10.240-192.168.10.243', subnet: '192.168.10.0/24' }],
        v6pools: [{ aggregation: 'default', pool: 'fc00:270:154:0:8100::4/64', subnet: 'fc00:270:154::/64' }],
      },
    },
  ],
  [
    'ServiceGroup',
    'PureLB v1 singular v4pool with /32',
    v4({ subnet: '10.31.188.64/26', pool: '10.31.188.64-10.31.188.126', aggregation: '/32' }),
  ],
  [
    'LBNodeAgent',
    'the default shipped in deploy/',
    { local: { localint: 'default', extlbint: 'kube-lb0', sendgarp: true } },
  ],
  ['RouterConfig', 'BGP with one peer', peer({ holdTime: 9, keepaliveTime: 3, description: 'tor-1 (rack 4)' })],
  [
    'RouterConfig',
    'per-Service attributes (spec.bgp.advertisements)',
    bgp({
      advertisements: [
        {
          name: 'gold',
          serviceSelector: { matchLabels: { tier: 'gold' }, matchExpressions: [{ key: 'team', operator: 'Exists' }] },
          serviceGroups: ['web'],
          communities: ['65000:300', 'large:65001:7:8'],
          asPathPrepend: 2,
        },
      ],
    }),
  ],
];

describe('rejected at admission with 422 naming the field', () => {
  test.each(bad)('%s: %s', async (kind, _case, spec, expected) => {
    const res = await create(kind, spec, `bad-${Math.random().toString(36).slice(2, 8)}`);
    expect(res.code).toBe(422);
    for (const text of expected) expect(res.message).toContain(text);
  });
});

describe('accepted', () => {
  test.each(good)('%s: %s', async (kind, _case, spec) => {
    expect(await create(kind, spec, `good-${Math.random().toString(36).slice(2, 8)}`)).toEqual({
      code: 201,
      message: '',
    });
  });
});
