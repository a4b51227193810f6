// Preloaded into a measured component by the benches (NODE_OPTIONS=--import=<this file>): on SIGUSR2 it
// writes one JSON line to stderr with process.memoryUsage() and V8's heap spaces, in MiB, so a bench can
// say where the RSS goes without a heap snapshot (which itself costs the process memory). Plain
// JavaScript: a TypeScript preload would load Node's type stripper into the process it measures.
// With PURELB_HEAP_SNAPSHOT_DIR set it then writes a heap snapshot there too (after the report, so the
// snapshot's own memory is not in it): bench/heap-summary.ts says what the live objects are.
import { join } from 'node:path';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

const mib = (n) => Math.round((n / 1048576) * 10) / 10;
process.on('SIGUSR2', () => {
  const usage = Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, mib(v)]));
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [s.space_name, { size: mib(s.space_size), used: mib(s.space_used_size) }]),
  );
  process.stderr.write(`${JSON.stringify({ msg: 'memory report', ...usage, spaces })}\n`);
  const dir = process.env.PURELB_HEAP_SNAPSHOT_DIR;
  if (dir) writeHeapSnapshot(join(dir, `${process.pid}-${Date.now()}.heapsnapshot`));
});
