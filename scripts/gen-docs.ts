// Writes docs/reference.md from the CRD schemas and annotation keys (src/api/reference-doc.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReference } from '../src/api/reference-doc.ts';
import { repoRoot } from '../src/lab/cluster/binaries.ts';

writeFileSync(join(repoRoot, 'docs', 'reference.md'), renderReference());
console.log('wrote docs/reference.md');
