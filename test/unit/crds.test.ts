import { expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCRDFiles } from '../../src/api/crd-files.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';

test.each(Object.entries(renderCRDFiles()))(
  'crds/%s is generated from src/api/crds.ts (run npm run gen:crds)',
  (file, text) => {
    expect(readFileSync(join(repoRoot, 'crds', file), 'utf8')).toBe(text);
  },
);

test('CEL rules survive serialisation (client-node typed dumps drop them)', () => {
  expect(renderCRDFiles()['servicegroup.yaml']).toContain('x-kubernetes-validations');
});
