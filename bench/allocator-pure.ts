// Benchmark (a): the pure allocator. Allocates then releases every address of an IPv4 /16 and of an
// IPv6 /112 through the full policy path (readRequest -> planAllocation -> applyPlan), and shows how
// the cost per allocation grows as the pool fills from 1k to 65k addresses in use, in order and after
// fragmenting it (every other address released, so the free set holds ~32k intervals).
// Run: npm run bench:allocator (or npx node bench/allocator-pure.ts)
import type { V1Service } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { parseServiceGroup } from '../src/api/validate-servicegroup.ts';
import { applyPlan, planAllocation } from '../src/allocator/policy.ts';
import { readRequest } from '../src/allocator/request.ts';
import { AllocationState } from '../src/allocator/state.ts';

const SIZE = 65_536;

function stateFor(local: Record<string, unknown>): AllocationState {
  const { config, problems } = parseServiceGroup({ metadata: { name: 'default', namespace: 'purelb' }, spec: { local } });
  if (!config) throw new Error(JSON.stringify(problems));
  const state = new AllocationState();
  state.setGroups([config]);
  return state;
}

const services = (family: 'IPv4' | 'IPv6'): V1Service[] => Array.from({ length: SIZE }, (_, i) => ({
  metadata: { name: `svc-${i}`, namespace: 'bench', annotations: {} },
  spec: { type: 'LoadBalancer', ipFamilies: [family], ipFamilyPolicy: 'SingleStack', ports: [{ port: 80, protocol: 'TCP' }] },
}));

function allocate(state: AllocationState, svc: V1Service): void {
  const req = readRequest(svc);
  const plan = planAllocation(req, state);
  if (!plan.ok) throw new Error(`${req.service}: ${plan.message}`);
  applyPlan(req, plan, state);
}

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(2);

function run(label: string, local: Record<string, unknown>, family: 'IPv4' | 'IPv6'): void {
  const svcs = services(family);
  const reqs = svcs.map(readRequest); // the request of every Service, for the release pass
  const state = stateFor(local);
  // cost per allocation at each fill level: time the 1,000 allocations that bring the pool to N in use
  const marks = [1_024, 2_048, 4_096, 8_192, 16_384, 32_768, 65_536];
  const perLevel: string[] = [];
  let t0 = performance.now();
  const start = t0;
  for (let i = 0; i < SIZE; i++) {
    allocate(state, svcs[i]!);
    if (marks.includes(i + 1)) {
      const t = performance.now();
      perLevel.push(`${fmt(i + 1)}: ${us(t - t0, i + 1 - (marks[marks.indexOf(i + 1) - 1] ?? 0))} µs`);
      t0 = t;
    }
  }
  const allocMs = performance.now() - start;
  const full = planAllocation(readRequest({ ...svcs[0]!, metadata: { name: 'one-more', namespace: 'bench' } }), state);
  if (full.ok) throw new Error('pool should be exhausted');
  let t = performance.now();
  for (const req of reqs) state.release(req.service);
  const releaseMs = performance.now() - t;
  const stats = state.pools.stats('default')[family === 'IPv4' ? 4 : 6];
  if (stats.free !== stats.size) throw new Error('not everything was released');

  // fragmented: fill, release every other address, then re-allocate into the holes
  for (const svc of svcs) allocate(state, svc);
  for (let i = 0; i < SIZE; i += 2) state.release(reqs[i]!.service);
  t = performance.now();
  for (let i = 0; i < SIZE; i += 2) allocate(state, svcs[i]!);
  const fragMs = performance.now() - t;

  console.log(`${label}: ${fmt(SIZE)} allocations in ${allocMs.toFixed(0)} ms (${fmt(SIZE / (allocMs / 1000))} alloc/s), `
    + `${fmt(SIZE)} releases in ${releaseMs.toFixed(0)} ms (${fmt(SIZE / (releaseMs / 1000))} release/s)`);
  console.log(`  µs per allocation in the batch ending at N in use: ${perLevel.join(', ')}`);
  console.log(`  fragmented (32,768 one-address holes): ${us(fragMs, SIZE / 2)} µs per allocation`);
}

run('IPv4 /16 (10.189.0.0/16)', { v4pool: { pool: '10.189.0.0/16', subnet: '10.189.0.0/16' } }, 'IPv4');
run('IPv6 /112 (fd00:189::/112)', { v6pool: { pool: 'fd00:189::/112', subnet: 'fd00:189::/64' } }, 'IPv6');
