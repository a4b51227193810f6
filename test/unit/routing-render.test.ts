// Golden files for every template variant, each parse-checked by the real daemon tools (bird -p,
// vtysh --dryrun), plus injection attempts. Regenerate goldens with UPDATE_GOLDEN=1 after a deliberate
// template change and review the diff.
import { afterAll, describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRouterConfig, validateRouterConfig, type RouterConfigSpec } from '../../src/api/validate-routerconfig.ts';
import { validateObject } from '../../src/api/validate.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { birdParseCheck } from '../../src/routing/bird/advertiser.ts';
import { frrDryRun } from '../../src/routing/frr/advertiser.ts';
import { renderNodeConfig, RenderError, type NodeRoutingInput } from '../../src/routing/render.ts';
import type { AddressService, AddressServices } from '../../src/routing/attributes.ts';

const TOR4 = '192.168.11.1';
const TOR6 = 'fd00:11::1';
const peer4 = { address: TOR4, asn: 65000, holdTime: 9 };
const peer6 = { address: TOR6, asn: 65000, holdTime: 9 };

const variants: Record<string, Record<string, unknown>> = {
  'bgp-v4': { protocol: 'bgp', bgp: { localASN: 65001, peers: [peer4] } },
  'bgp-v6': { protocol: 'bgp', bgp: { localASN: 65001, peers: [peer6] } },
  'bgp-dual': {
    protocol: 'bgp',
    bgp: { localASN: 4200000001, communities: ['65000:100', '65000:200'], localPref: 150, peers: [peer4, peer6] },
  },
  'bgp-multihop': {
    protocol: 'bgp',
    bgp: {
      localASN: 65001,
      routerID: '10.0.0.1',
      peers: [{ address: '10.9.9.9', asn: 65000, port: 1179, multihop: 3, description: 'spine-1 (rack 4)' }],
    },
  },
  'bgp-password': {
    protocol: 'bgp',
    bgp: { localASN: 65001, peers: [{ ...peer4, passwordSecretRef: { name: 'tor-md5' }, gracefulRestart: true }] },
  },
  'bgp-bfd': {
    protocol: 'bgp',
    bgp: {
      localASN: 65001,
      peers: [
        { ...peer4, bfd: true, keepaliveTime: 2 },
        { ...peer6, bfd: true },
      ],
    },
  },
  'ospf-stub': {
    protocol: 'ospf',
    ospf: {
      mode: 'stub',
      area: 0,
      interfaces: ['eth0', 'eth1'],
      cost: 15,
      helloInterval: 1,
      deadInterval: 4,
      networkType: 'point-to-point',
    },
  },
  'ospf-external': { protocol: 'ospf', ospf: { mode: 'external', area: '0.0.0.1', metric: 100, interfaces: ['eth0'] } },
  // per-Service attributes towards eBGP peers: communities (standard and large) and AS-path prepend
  'bgp-advertisements-ebgp': {
    protocol: 'bgp',
    bgp: {
      localASN: 65001,
      communities: ['65000:100'],
      peers: [peer4, peer6],
      advertisements: [
        {
          name: 'gold',
          serviceSelector: { matchLabels: { tier: 'gold' } },
          communities: ['65000:300', 'large:65001:7:8'],
          asPathPrepend: 2,
        },
        { name: 'backup', serviceGroups: ['backup'], asPathPrepend: 3 },
        { name: 'unused', serviceGroups: ['nobody'], communities: ['65000:999'] },
      ],
    },
  },
  // LOCAL_PREF towards an iBGP peer
  'bgp-advertisements-ibgp': {
    protocol: 'bgp',
    bgp: {
      localASN: 65000,
      peers: [peer4, peer6],
      localPref: 100,
      advertisements: [
        {
          name: 'prefer',
          serviceSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', 'silver'] }] },
          localPref: 300,
        },
      ],
    },
  },
};

const svc = (key: string, labels: Record<string, string>, groups: string[] = ['default']): AddressService => ({
  key,
  labels,
  groups,
});
/** The Services behind the node's addresses: an aggregate /24 shared by a gold and a plain Service, a
 * backup-group /32, a v6 gold address and an address no entry selects. */
const servicesOf: AddressServices = {
  '10.96.0.10/32': [svc('ns/gold', { tier: 'gold' })],
  'fd00:96::10/128': [svc('ns/gold', { tier: 'gold' })],
  '10.97.0.5/24': [svc('ns/plain', { tier: 'bronze' }), svc('ns/silver', { tier: 'silver' })],
  '10.97.0.6/24': [svc('ns/gold2', { tier: 'gold' })],
  '10.96.0.11/32': [svc('ns/backup', {}, ['backup'])],
  '10.96.0.12/32': [svc('ns/plain2', { tier: 'bronze' })],
};

function spec(daemon: string, variant: Record<string, unknown>): RouterConfigSpec {
  const { config, problems } = parseRouterConfig({
    metadata: { name: 'golden', namespace: 'purelb' },
    spec: { daemon, ...variant },
  });
  if (!config) throw new Error(problems.map((p) => p.message).join('; '));
  return config;
}

const input = (config: RouterConfigSpec, extra: Partial<NodeRoutingInput> = {}): NodeRoutingInput => ({
  config,
  nodeName: 'node-a',
  nodeIP: '192.168.11.2',
  kubeInterface: 'kube-lb0',
  passwords: { [TOR4]: 's3cr3t$pw' },
  ...extra,
});

const scratch = mkdtempSync(join(tmpdir(), 'purelb-golden-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function parseCheck(daemon: 'bird' | 'frr', text: string, name: string) {
  const file = join(scratch, `${name}.conf`);
  writeFileSync(file, text);
  return daemon === 'bird' ? birdParseCheck(file) : frrDryRun(file);
}

describe.each(['bird', 'frr'] as const)('%s templates', (daemon) => {
  test.each(Object.keys(variants))("%s matches its golden file and passes the daemon's own parser", async (name) => {
    const { text } = renderNodeConfig(input(spec(daemon, variants[name]!), { services: servicesOf }));
    const golden = join(repoRoot, 'test', 'unit', 'golden', 'routing', `${daemon}-${name}.conf`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text);
    expect(existsSync(golden)).toBe(true); // a new variant needs UPDATE_GOLDEN=1 and a reviewed file
    expect(text).toBe(readFileSync(golden, 'utf8'));
    const check = await parseCheck(daemon, text, `${daemon}-${name}`);
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('the parse check is real: a corrupted config fails it', async () => {
    const { text } = renderNodeConfig(input(spec(daemon, variants['bgp-v4']!)));
    const broken =
      daemon === 'bird' ? text.replace('hold time 9;', 'hold time 1;') : text.replace('remote-as 65000', 'remote-as 0');
    expect(broken).not.toBe(text);
    expect((await parseCheck(daemon, broken, `${daemon}-broken`)).code).not.toBe(0);
  });
});

test.each(['bird', 'frr'])('every %s partial is used by a template or another partial', (daemon) => {
  const dir = join(repoRoot, 'templates', daemon);
  const partials = readdirSync(join(dir, 'partials')).map((f) => f.replace(/\.hbs$/, ''));
  const sources = [
    ...readdirSync(dir).filter((f) => f.endsWith('.hbs')),
    ...partials.map((p) => `partials/${p}.hbs`),
  ].map((f) => readFileSync(join(dir, f), 'utf8'));
  expect(partials.length).toBeGreaterThan(0);
  for (const p of partials) expect([p, sources.some((s) => s.includes(`{{> ${daemon}/${p}`))]).toEqual([p, true]);
});

describe('injection', () => {
  const hostile = [
    'x"; protocol static { route 0.0.0.0/0 blackhole; }',
    'a}',
    'line\nrouter bgp 1',
    'x;y',
    '! comment',
  ];

  test.each(hostile)('the validator rejects description %j', (description) => {
    const problems = validateRouterConfig({
      metadata: { name: 'evil' },
      spec: { daemon: 'bird', protocol: 'bgp', bgp: { localASN: 65001, peers: [{ ...peer4, description }] } },
    });
    expect(problems.map((p) => p.field)).toEqual(['spec.bgp.peers[0].description']);
  });

  test.each(['eth0"; }', 'eth0 eth1', 'a{'])('the validator rejects OSPF interface %j', (iface) => {
    const problems = validateRouterConfig({ spec: { daemon: 'frr', protocol: 'ospf', ospf: { interfaces: [iface] } } });
    expect(problems.map((p) => p.field)).toEqual(['spec.ospf.interfaces[0]']);
  });

  test('braces and semicolons that bypassed the validator stay inside a BIRD string (inert)', async () => {
    const config = spec('bird', variants['bgp-v4']!);
    config.bgp!.peers[0]!.description = 'x; } protocol static s { ipv4; route 0.0.0.0/0 blackhole; } protocol bgp y {';
    const { text } = renderNodeConfig(input(config));
    expect((await parseCheck('bird', text, 'bird-inert')).code).toBe(0);
    expect(text.match(/^protocol /gm)).toHaveLength(4); // device, kernel (buffer only), direct, one bgp: nothing injected
  });

  test('a double quote that bypassed the validator is refused (BIRD strings have no escapes)', () => {
    const config = spec('bird', variants['bgp-v4']!);
    config.bgp!.peers[0]!.description = 'x"; protocol static s { ipv4; }';
    expect(() => renderNodeConfig(input(config))).toThrow(RenderError);
  });

  test('a line break that bypassed the validator is refused by the FRR quoting helpers', () => {
    const config = spec('frr', variants['bgp-v4']!);
    config.bgp!.peers[0]!.description = 'x\nrouter bgp 1';
    expect(() => renderNodeConfig(input(config))).toThrow(RenderError);
  });

  test.each(['pw with blank', 'pw"quote', 'back\\slash', 'bang!', 'hash#'])(
    'password %j from a Secret is refused',
    (pw) => {
      expect(() =>
        renderNodeConfig(input(spec('frr', variants['bgp-password']!), { passwords: { [TOR4]: pw } })),
      ).toThrow(/password for peer/);
    },
  );

  test('a missing password is an error naming the Secret, never an empty password', () => {
    expect(() => renderNodeConfig(input(spec('bird', variants['bgp-password']!), { passwords: {} }))).toThrow(
      /Secret tor-md5, key password/,
    );
  });

  test('a hostile interface name from the agent flags is refused', () => {
    expect(() => renderNodeConfig(input(spec('bird', variants['bgp-v4']!), { kubeInterface: 'kube-lb0"; }' }))).toThrow(
      RenderError,
    );
  });
});

test('router id: the node IP by default; an IPv6-only node must set spec.bgp.routerID', () => {
  expect(renderNodeConfig(input(spec('bird', variants['bgp-v4']!))).text).toContain('router id 192.168.11.2;');
  expect(() => renderNodeConfig(input(spec('bird', variants['bgp-v6']!), { nodeIP: 'fd00:11::2' }))).toThrow(
    /set spec.bgp.routerID/,
  );
});

test('validateObject dispatches RouterConfig to the routing validator', () => {
  expect(
    validateObject({
      apiVersion: 'purelb.io/v1',
      kind: 'RouterConfig',
      metadata: { name: 'r' },
      spec: { daemon: 'gobgp', protocol: 'ospf', ospf: { interfaces: ['eth0'] } },
    }),
  ).toEqual([
    {
      object: 'RouterConfig <unnamed>'.replace('<unnamed>', 'r'),
      field: 'spec.protocol',
      message: expect.stringContaining('GoBGP has no OSPF'),
    },
  ]);
});

test.each(['bird', 'frr'] as const)(
  '%s renders LOCAL_PREF 0 (GoBGP sends it too), config-wide and per Service',
  (daemon) => {
    const cfg = spec(daemon, {
      protocol: 'bgp',
      bgp: {
        localASN: 65000,
        localPref: 0,
        peers: [peer4],
        advertisements: [{ name: 'low', serviceGroups: ['default'], localPref: 0 }],
      },
    });
    const { text } = renderNodeConfig(input(cfg, { services: servicesOf }));
    const line = daemon === 'bird' ? 'bgp_local_pref = 0;' : 'set local-preference 0';
    // the config-wide value and the entry's, once per family
    expect(text.split('\n').filter((l) => l.trim() === line).length).toBe(4);
  },
);
