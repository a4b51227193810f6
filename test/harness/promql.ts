// Prometheus' own PromQL parser (test/promql-bin, built and cached by scripts/setup.sh): the metric names
// an expression selects, or the parser's error.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';

/** The cache key scripts/setup.sh uses: sha256 of go.mod, go.sum and main.go, 12 hex digits. */
function promqlBinary(): string {
  const src = join(repoRoot, 'test', 'promql-bin');
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(src, f)));
  const path = join(homedir(), '.cache', 'purelb', 'promql', hash.digest('hex').slice(0, 12), 'bin', 'promql-metrics');
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/setup.sh (it builds test/promql-bin)`);
  return path;
}

export interface Parsed {
  metrics?: string[];
  error?: string;
}

export function parsePromQL(exprs: string[]): Parsed[] {
  return JSON.parse(execFileSync(promqlBinary(), { input: JSON.stringify(exprs), encoding: 'utf8' })) as Parsed[];
}
