// For suites that run a lab: whether any test or hook of this file failed (counted by
// test/jest-environment.js), and the logs of such a lab kept before its teardown deletes them, with the
// agents' last lines printed so a CI log shows what the agents saw.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepLogs } from '../../src/lab/lab.ts';

const TAIL_LINES = 40;

export const testsFailed = (): boolean =>
  ((globalThis as { __purelbFailedTests?: number }).__purelbFailedTests ?? 0) > 0;

/** Keeps the lab's logs (see keepLogs) and prints where, and the last lines of every agent's log. */
export function reportFailedLab(name: string, log: (m: string) => void): void {
  const kept = keepLogs(name);
  if (!kept) return;
  log(`a test failed: the lab's logs are kept in ${kept}`);
  for (const f of readdirSync(kept).filter((x) => x.includes('agent'))) {
    const lines = readFileSync(join(kept, f), 'utf8').trimEnd().split('\n');
    log(`last ${Math.min(TAIL_LINES, lines.length)} lines of ${f}:\n${lines.slice(-TAIL_LINES).join('\n')}`);
  }
}
