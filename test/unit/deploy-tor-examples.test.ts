// docs/tor-examples.md: every router block parses with the daemon's own checker (vtysh --dryrun -f for
// FRR, bird -p -c for BIRD) and every RouterConfig passes the validator, so the examples cannot rot.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { validateObject } from '../../src/api/validate.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { fencedBlocks } from '../harness/markdown.ts';

const doc = readFileSync(join(repoRoot, 'docs', 'tor-examples.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'purelb-tor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(cmd: string, args: (file: string) => string[], text: string, i: number) {
  const file = join(dir, `${cmd}-${i}.conf`);
  writeFileSync(file, text);
  return spawnSync(cmd, args(file), { encoding: 'utf8' });
}

const frr = fencedBlocks(doc, 'frr');
const bird = fencedBlocks(doc, 'bird');
const yaml = fencedBlocks(doc, 'yaml');

test('the page has FRR and BIRD ToR configs for BGP and OSPF, and the RouterConfigs', () => {
  expect(frr.map((b) => (/router bgp/.test(b) ? 'bgp' : /router ospf/.test(b) ? 'ospf' : '?'))).toEqual([
    'bgp',
    'ospf',
  ]);
  expect(bird.map((b) => (/protocol bgp/.test(b) ? 'bgp' : /protocol ospf/.test(b) ? 'ospf' : '?'))).toEqual([
    'bgp',
    'ospf',
  ]);
  expect(frr[0]).toMatch(/bgp bestpath as-path multipath-relax/);
  expect(frr[0]).toMatch(/maximum-paths \d+/);
  expect(bird[0]).toMatch(/merge paths on/);
  expect(yaml).toHaveLength(2);
});

const checkers = [
  {
    lang: 'frr',
    blocks: frr,
    cmd: 'vtysh',
    args: (f: string) => ['--dryrun', '-f', f],
    typo: ['maximum-paths', 'maximum-pathz'],
    error: /Unknown command/,
  },
  {
    lang: 'bird',
    blocks: bird,
    cmd: 'bird',
    args: (f: string) => ['-p', '-c', f],
    typo: ['merge paths on', 'merge pathz on'],
    error: /syntax error/,
  },
] as const;

describe.each(checkers)("$lang blocks pass $cmd's own parser", ({ blocks, cmd, args, typo, error }) => {
  test.each(blocks.map((b, i) => [i, b] as const))('block %i', (i, text) => {
    const run = check(cmd, args, text, i);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
  test('the check itself fails on a typo (it is not a no-op)', () => {
    const run = check(cmd, args, blocks[0]!.replace(typo[0], typo[1]), 99);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(error);
  });
});

test.each(yaml.map((b, i) => [i, b] as const))('RouterConfig block %i passes the validator', (_i, text) => {
  const docs = loadAll(text);
  expect(docs).toHaveLength(1);
  expect(validateObject(docs[0])).toEqual([]);
});
