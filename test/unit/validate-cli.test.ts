// `purelb validate -f FILE...` as a real process: exit 0 on valid manifests (other kinds skipped),
// exit 1 with "<object>: <field>: <reason>" on the first problem, across files too.
import { afterAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';

const dir = mkdtempSync(join(tmpdir(), 'purelb-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const validate = (...args: string[]) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/purelb.js'), 'validate', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const SEEDS = `apiVersion: purelb.io/v1
kind: ServiceGroup
metadata: {name: localaddrange, namespace: purelb}
spec:
  local:
    v4pools: [{aggregation: default, pool: 192.168.10.240-192.168.10.243, subnet: 192.168.10.0/24}]
    v6pools: [{aggregation: default, pool: fc00:270:154:0:8100::4/64, subnet: fc00:270:154::/64}]
---
apiVersion: purelb.io/v1
kind: ServiceGroup
metadata: {name: default, namespace: purelb}
spec:
  local:
    v4pool: {subnet: '10.31.188.64/26', pool: '10.31.188.64-10.31.188.126', aggregation: /32}
---
apiVersion: purelb.io/v1
kind: LBNodeAgent
metadata: {name: default, namespace: purelb}
spec: {local: {localint: default, extlbint: kube-lb0, sendgarp: false}}
---
apiVersion: v1
kind: Namespace
metadata: {name: purelb}
`;

test('the seed manifests are valid; other kinds are skipped', () => {
  const r = validate('-f', file('seeds.yaml', SEEDS));
  expect(r).toMatchObject({ code: 0, out: '3 purelb.io object(s) valid (1 other object(s) skipped)\n' });
});

test('a malformed range exits 1 naming object, field and reason', () => {
  const bad = file('bad.yaml', SEEDS.replace('10.31.188.64-10.31.188.126', '10.31.188.126-10.31.188.64'));
  const r = validate('-f', bad);
  expect(r.code).toBe(1);
  expect(r.err.split('\n')[0]).toBe(
    'ServiceGroup purelb/default: spec.local.v4pool.pool: range start 10.31.188.126 is after its end 10.31.188.64; write "from-to" with from <= to',
  );
});

test('every purelb.io kind is dispatched to its validator (LBNodeAgent here)', () => {
  const r = validate('-f', file('lbna.yaml', SEEDS.replace('extlbint: kube-lb0', 'extlbint: "bad name with spaces"')));
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/^LBNodeAgent purelb\/default: spec\.local\.extlbint: /);
});

test('overlaps and duplicate names are found across files', () => {
  const other = file(
    'other.yaml',
    `apiVersion: purelb.io/v1
kind: ServiceGroup
metadata: {name: wide, namespace: purelb}
spec: {local: {v4pool: {subnet: 192.168.0.0/16, pool: 192.168.0.0/16}}}
---
apiVersion: purelb.io/v1
kind: ServiceGroup
metadata: {name: default, namespace: elsewhere}
spec: {local: {v4pool: {subnet: 10.99.0.0/24, pool: 10.99.0.0/24}}}
`,
  );
  const r = validate('-f', file('seeds2.yaml', SEEDS), '-f', other);
  expect(r.code).toBe(1);
  expect(r.err).toContain(
    'ServiceGroup purelb/wide: spec.local.v4pool.pool: pool 192.168.0.0/16 (192.168.0.0-192.168.255.255) overlaps 192.168.10.240-192.168.10.243 at spec.local.v4pools[0] of ServiceGroup purelb/localaddrange',
  );
  expect(r.err).toContain('ServiceGroup elsewhere/default: metadata.name: duplicate ServiceGroup name "default"');
});

test('YAML syntax errors, unreadable files and a missing -f are reported', () => {
  expect(validate('-f', file('broken.yaml', 'kind: [unclosed'))).toMatchObject({
    code: 1,
    err: expect.stringContaining('not valid YAML'),
  });
  expect(validate('-f', join(dir, 'missing.yaml'))).toMatchObject({
    code: 1,
    err: expect.stringContaining('cannot read'),
  });
  expect(validate().code).toBe(2);
});
