// Writes crds/*.yaml from src/api/crds.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCRDFiles } from '../src/api/crd-files.ts';
import { repoRoot } from '../src/lab/cluster/binaries.ts';

for (const [file, text] of Object.entries(renderCRDFiles())) {
  writeFileSync(join(repoRoot, 'crds', file), text);
  console.log(`wrote crds/${file}`);
}
