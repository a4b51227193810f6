// What a heap snapshot holds, by the objects' own sizes: the largest groups of (type, constructor or
// kind), and the total per type. A snapshot holds only live objects (V8 collects before writing it).
// Run: node bench/heap-summary.ts <file.heapsnapshot> [top=25]
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, top = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/heap-summary.ts <file.heapsnapshot> [top]');
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
const groups = new Map<string, { size: number; count: number }>();
const perType = new Map<string, number>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  const type = types[snap.nodes[i + typeAt!]!]!;
  const size = snap.nodes[i + sizeAt!]!;
  // strings group by type only: their names are their contents
  const name = type === 'string' || type === 'concatenated string' ? '' : snap.strings[snap.nodes[i + nameAt!]!]!;
  const key = `${type} ${name.slice(0, 60)}`;
  const g = groups.get(key) ?? { size: 0, count: 0 };
  g.size += size;
  g.count++;
  groups.set(key, g);
  perType.set(type, (perType.get(type) ?? 0) + size);
  total += size;
}
const mib = (n: number) => (n / 1048576).toFixed(1).padStart(6);
console.log(`${mib(total)} MiB live in ${snap.nodes.length / fields.length} objects; by type:`);
for (const [t, size] of [...perType].sort((a, b) => b[1] - a[1])) console.log(`  ${mib(size)} MiB  ${t}`);
console.log(`largest groups (type, constructor or kind):`);
for (const [k, g] of [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, Number(top)))
  console.log(`  ${mib(g.size)} MiB  ${String(g.count).padStart(8)}  ${k}`);
