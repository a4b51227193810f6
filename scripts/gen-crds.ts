// Writes the generated files (scripts/generated-files.ts): crds/*.yaml from src/api/crds.ts, the
// monitoring files from src/monitoring, and the Helm chart's copies of both and of deploy/frr/daemons.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../src/lab/cluster/binaries.ts';
import { generatedFiles } from './generated-files.ts';

for (const [path, text] of Object.entries(generatedFiles())) {
  mkdirSync(dirname(join(repoRoot, path)), { recursive: true });
  writeFileSync(join(repoRoot, path), text);
  console.log(`wrote ${path}`);
}
