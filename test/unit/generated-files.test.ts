// Every generated file is committed as its source renders it: the CRDs and their copy in the Helm chart,
// the monitoring files of the kustomize component and of the chart, the chart's copy of deploy/frr/daemons.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@jest/globals';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { generatedFiles } from '../../scripts/generated-files.ts';

test.each(Object.entries(generatedFiles()))('%s is up to date (run npm run gen:crds)', (path, text) => {
  expect(readFileSync(join(repoRoot, path), 'utf8')).toBe(text);
});

test('the chart carries the same CRDs, monitoring files and FRR daemons file as the kustomize install', () => {
  const files = generatedFiles();
  for (const [path, text] of Object.entries(files).filter(([p]) => p.startsWith('charts/purelb/'))) {
    const source = path
      .replace('charts/purelb/crds/', 'crds/')
      .replace('charts/purelb/files/monitoring/', 'deploy/purelb/components/monitoring/')
      .replace('charts/purelb/files/frr-daemons', 'deploy/frr/daemons');
    expect(readFileSync(join(repoRoot, source), 'utf8')).toBe(text);
  }
});
