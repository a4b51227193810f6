// `purelb render` as a user runs it: the real CLI process on the shipped example RouterConfigs; its
// output is accepted by the real daemon parsers, and an invalid RouterConfig exits 1 naming the field.
import { expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { birdParseCheck } from '../../src/routing/bird/advertiser.ts';
import { frrDryRun } from '../../src/routing/frr/advertiser.ts';

const example = join(repoRoot, 'deploy', 'bird', 'routerconfig-example.yaml');
async function inTempDir<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'purelb-render-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const render = (...args: string[]) =>
  spawnSync(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), 'render', ...args], { encoding: 'utf8' });

test.each([
  ['default', 'bird'],
  ['rack-1', 'bird'],
  ['ospf-rack', 'frr'],
] as const)('example %s renders a %s config that its daemon accepts', async (name, daemon) => {
  const out = render('--config', example, '--name', name, '--node', 'node-a', '--node-ip', '192.168.11.2');
  expect({ status: out.status, stderr: out.stderr }).toEqual({ status: 0, stderr: '' });
  await inTempDir(async (dir) => {
    writeFileSync(join(dir, 'out.conf'), out.stdout);
    const check =
      daemon === 'bird' ? await birdParseCheck(join(dir, 'out.conf')) : await frrDryRun(join(dir, 'out.conf'));
    expect(check.code).toBe(0);
  });
});

test('daemon gobgp prints the gRPC calls, with one path per advertised prefix (host route or aggregate)', () =>
  inTempDir((dir) => {
    writeFileSync(
      join(dir, 'rc.yaml'),
      'apiVersion: purelb.io/v1\nkind: RouterConfig\nmetadata: {name: g}\nspec:\n  daemon: gobgp\n  protocol: bgp\n  bgp: {localASN: 64512, peers: [{address: 192.168.11.1, asn: 65000}]}\n',
    );
    const out = render(
      '--config',
      join(dir, 'rc.yaml'),
      '--node',
      'n',
      '--node-ip',
      '192.168.11.2',
      '--address',
      '10.96.0.1/32',
      '--address',
      '10.0.0.5/24',
      '--address',
      '10.0.0.9/24',
    );
    expect(out.status).toBe(0);
    const calls = JSON.parse(out.stdout) as Array<{
      method: string;
      request: { paths?: Array<{ nlri: { prefix: string; prefix_len: number } }> };
    }>;
    expect(calls.map((c) => c.method)).toEqual([
      'StartBgp',
      'AddPolicy',
      'SetPolicyAssignment',
      'AddPeer',
      'AddPathStream',
    ]);
    // two addresses of a /24-aggregated pool are one aggregate route, advertised as its network
    expect(calls[4]!.request.paths!.map((p) => `${p.nlri.prefix}/${p.nlri.prefix_len}`)).toEqual([
      '10.0.0.0/24',
      '10.96.0.1/32',
    ]);
  }));

test('an invalid RouterConfig exits 1 and names the field', () =>
  inTempDir((dir) => {
    writeFileSync(
      join(dir, 'rc.yaml'),
      'apiVersion: purelb.io/v1\nkind: RouterConfig\nmetadata: {name: bad}\nspec: {daemon: gobgp, protocol: ospf, ospf: {interfaces: [eth0]}}\n',
    );
    const out = render('--config', join(dir, 'rc.yaml'), '--node', 'n', '--node-ip', '192.168.11.2');
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('RouterConfig bad: spec.protocol: GoBGP has no OSPF');
  }));
