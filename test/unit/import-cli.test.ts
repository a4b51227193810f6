// `purelb import` as a real process: YAML out on stdout (accepted by `purelb validate`), the report on
// stderr, Service patches in their own file, and the documented exit codes 0, 3 and 2.
import { afterAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';

const dir = mkdtempSync(join(tmpdir(), 'purelb-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const purelb = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/purelb.js'), ...args], { encoding: 'utf8', input });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const POOL = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.168.10.240-192.168.10.250]}
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, annotations: {metallb.io/loadBalancerIPs: 192.168.10.241}}
spec: {type: LoadBalancer, ports: [{port: 80}]}
`;

test('everything mapped: exit 0, objects on stdout that purelb validate accepts, patches in their file', () => {
  const patches = join(dir, 'patches.yaml');
  const r = purelb(
    [
      'import',
      '--from',
      'metallb',
      '-f',
      file('pool.yaml', POOL),
      '-f',
      '-',
      '--node-subnet',
      '192.168.10.0/24',
      '--default-pool',
      'lan',
      '--service-patches',
      patches,
    ],
    SERVICE,
  );
  expect(r.err).toBe('# 1 object(s) written, 1 Service patch(es) written to ' + patches + '; 0 thing(s) not mapped\n');
  expect(r.code).toBe(0);
  expect(loadAll(r.out)).toEqual([
    {
      apiVersion: 'purelb.io/v1',
      kind: 'ServiceGroup',
      metadata: { name: 'default', namespace: 'purelb' },
      spec: {
        local: {
          v4pools: [{ pool: '192.168.10.240-192.168.10.250', subnet: '192.168.10.0/24', aggregation: 'default' }],
        },
      },
    },
  ]);
  expect(loadAll(readFileSync(patches, 'utf8'))).toEqual([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop', annotations: { 'purelb.io/addresses': '192.168.10.241' } },
    },
  ]);
  const v = purelb(['validate', '-f', '-'], r.out);
  expect(v.out).toBe('1 purelb.io object(s) valid\n');
  expect(v.code).toBe(0);
});

test('something not mapped: exit 3, output still written, the report on stderr; unwritten patches count', () => {
  const r = purelb(['import', '--from', 'metallb', '-f', file('both.yaml', `${POOL}---\n${SERVICE}`)]);
  expect(r.code).toBe(3);
  expect(loadAll(r.out)).toHaveLength(1);
  expect(r.err.split('\n')).toEqual([
    'IPAddressPool metallb-system/lan: spec.autoAssign: (default true) not mapped: unannotated Services get addresses only from the ServiceGroup named "default" or the default group of their namespace (serviceAllocation.namespaces with namespaceDefault); this group serves Services that name it (purelb.io/service-group) or request one of its addresses; give --default-pool lan to name it "default"',
    'Service shop/web: metadata.annotations: patch not written; give --service-patches FILE',
    '# 1 object(s) written; 2 thing(s) not mapped',
    '',
  ]);
});

test('usage and parse errors: exit 2 with a message naming the file and document', () => {
  // the broken document is the second of three: the message says so
  const bad = file('bad.yaml', `${POOL}---\nkind: IPAddressPool\nspec: {addresses: [1.2.3.4\n---\n${SERVICE}`);
  const parse = purelb(['import', '--from', 'metallb', '-f', bad]);
  expect(parse.err).toMatch(new RegExp(`^purelb import: ${bad}: document 2 \\(line 8\\): not valid YAML: `));
  expect(parse.code).toBe(2);
  expect(parse.out).toBe('');
  const notObject = file('list.yaml', `${POOL}---\n- a\n`);
  expect(purelb(['import', '--from', 'metallb', '-f', notObject]).err).toBe(
    `purelb import: ${notObject}: document 2: not a Kubernetes object (needs apiVersion and kind)\n`,
  );
  expect(purelb(['import', '--from', 'metallb', '-f', join(dir, 'missing.yaml')]).code).toBe(2);
  const peer = file('peer.yaml', 'apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {}\n');
  expect(purelb(['import', '--from', 'metallb', '-f', peer])).toEqual({
    code: 2,
    out: '',
    err: 'purelb import: the input has BGPPeers: choose the routing daemon of the RouterConfigs with --daemon bird|frr|gobgp (see purelb import --help)\n',
  });
  expect(purelb(['import', '--from', 'metallb', '-f', peer, '--daemon', 'quagga']).err).toMatch(
    /--daemon must be one of bird, frr, gobgp, got "quagga"/,
  );
  expect(purelb(['import', '--from', 'metallb', '-f', peer, '--node-subnet', '10.0.0.0/33']).err).toMatch(
    /--node-subnet "10.0.0.0\/33" is not a CIDR/,
  );
  expect(purelb(['import', '-f', peer]).err).toMatch(/--from must be metallb or purelb-v2, got ""/);
  expect(purelb(['import', '--from', 'purelb-v2', '-f', peer, '--daemon', 'bird']).err).toMatch(
    /--daemon applies to --from metallb only/,
  );
  expect(purelb(['import', '--from', 'metallb']).code).toBe(2);
});

test('--service-patches writes the file even when no Service needs a patch (no stale patches of an earlier run)', () => {
  const patches = join(dir, 'none.yaml');
  writeFileSync(patches, 'apiVersion: v1\nkind: Service\n'); // left by an earlier run
  const r = purelb([
    'import',
    '--from',
    'metallb',
    '-f',
    file('only-pool.yaml', POOL),
    '--default-pool',
    'lan',
    '--service-patches',
    patches,
  ]);
  expect(r.code).toBe(0);
  expect(readFileSync(patches, 'utf8')).toBe('');
});
