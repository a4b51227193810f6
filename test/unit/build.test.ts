// The program as the images ship it (scripts/build.ts, Dockerfile stage build): src/ compiled to
// JavaScript in dist/, no src/ in the tree. bin/purelb.js must run it, the compiled modules must find
// the files they load next to themselves (templates/, announce.py), and it must behave as the sources.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { shippedTree } from '../harness/shipped.ts';

let tree: ReturnType<typeof shippedTree>;
beforeAll(() => {
  tree = shippedTree();
});
afterAll(() => tree.remove());

const run = (entry: string, args: string[]) => spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8' });

test('the compiled tree has no TypeScript and carries announce.py next to the module that starts it', () => {
  const app = dirname(dirname(tree.entry));
  expect(existsSync(join(app, 'src'))).toBe(false);
  expect(existsSync(join(app, 'dist', 'cli', 'main.js'))).toBe(true);
  const files = readdirSync(join(app, 'dist'), { recursive: true, encoding: 'utf8' });
  expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
  expect(files.filter((f) => f.endsWith('.js')).length).toBeGreaterThan(100);
  expect(existsSync(join(app, 'dist', 'agent', 'announce.py'))).toBe(true);
});

test('bin/purelb.js runs the compiled program, which renders from templates/ what the sources render', () => {
  const args = ['render', '--config', join(repoRoot, 'deploy', 'bird', 'routerconfig-example.yaml')];
  args.push('--name', 'ospf-rack', '--node', 'node-a', '--node-ip', '192.168.11.2');
  const compiled = run(tree.entry, args);
  expect({ status: compiled.status, stderr: compiled.stderr }).toEqual({ status: 0, stderr: '' });
  expect(compiled.stdout).toMatch(/router ospf/);
  expect(compiled.stdout).toBe(run(join(repoRoot, 'bin', 'purelb.js'), args).stdout);
});

test.each(['allocator', 'agent'])(
  "the %s's compiled modules leave Node's bundled undici unloaded (src/node-http.ts)",
  (component) => {
    const dist = join(dirname(dirname(tree.entry)), 'dist', 'cli', `${component}.js`);
    const code = `await import(${JSON.stringify(dist)}); console.log(process.moduleLoadList.some((m) => m.includes('undici')))`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    expect({ stdout: out.stdout.trim(), stderr: out.stderr }).toEqual({ stdout: 'false', stderr: '' });
  },
);
