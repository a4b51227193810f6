// The operator docs cannot drift from the code: docs/reference.md is generated from the CRD schemas and
// annotation keys, and docs/install.md waits for every CRD that crds/ holds.
import { expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { ANN } from '../../src/api/annotations.ts';
import { renderReference } from '../../src/api/reference-doc.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';

const read = (...p: string[]) => readFileSync(join(repoRoot, ...p), 'utf8');
const crdFiles = readdirSync(join(repoRoot, 'crds'));

test('docs/reference.md is what `npm run gen:docs` generates from src/api', () => {
  expect(read('docs', 'reference.md')).toBe(renderReference());
});

/** Every property name of a schema, found independently of the generator's walk. */
function propertyNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const n of node) propertyNames(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'properties') for (const name of Object.keys(v as object)) out.add(name);
      propertyNames(v, out);
    }
  }
  return out;
}

test.each(crdFiles)('every field of crds/%s is in docs/reference.md under its kind', (file) => {
  const crd = load(read('crds', file)) as {
    spec: {
      names: { kind: string };
      versions: Array<{ schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }>;
    };
  };
  const doc = read('docs', 'reference.md');
  const kind = crd.spec.names.kind;
  const section = doc.split(/^## /m).find((s) => s.startsWith(`${kind}\n`));
  expect(section).toBeDefined();
  const names = new Set<string>();
  for (const v of crd.spec.versions)
    for (const part of ['spec', 'status']) propertyNames(v.schema.openAPIV3Schema.properties[part], names);
  expect(names.size).toBeGreaterThan(2);
  const missing = [...names].filter((n) => !new RegExp(`\`[a-z]+[^\`]*\\.${n}\``).test(section!));
  expect(missing).toEqual([]);
});

test('every annotation key of src/api/annotations.ts is documented', () => {
  const doc = read('docs', 'reference.md');
  for (const key of Object.values(ANN)) expect(doc).toContain(`| \`${key}\` |`);
});

test('docs/install.md waits for every CRD in crds/ before applying deploy/purelb', () => {
  const install = read('docs', 'install.md');
  const wait = install.match(/kubectl wait --for condition=established[^\n]*(?:\\\n[^\n]*)*/)?.[0] ?? '';
  for (const file of crdFiles) {
    const crd = load(read('crds', file)) as { metadata: { name: string } };
    expect(wait).toContain(`crd/${crd.metadata.name}`);
  }
  expect(install).toContain('kubectl apply -f crds/');
  expect(install).toContain('kubectl apply -k deploy/purelb');
});
