// Benchmark (a): the pure allocator. Allocates then releases every address of an IPv4 /16 and of an
// IPv6 /112 through the full policy path (readRequest -> planAllocation -> applyPlan), and shows how
// the cost per allocation grows as the pool fills from 1k to 64k addresses in use, and the cost after
// fragmenting it (every other address released, so the free set holds 32k intervals).
// Run: npm run bench:allocator (or npx node bench/allocator-pure.ts)
import type { V1Service } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { parseServiceGroup } from '../src/api/validate-servicegroup.ts';
import { applyPlan, planAllocation } from '../src/allocator/policy.ts';
import { readRequest } from '../src/allocator/request.ts';
import { AllocationState } from '../src/allocator/state.ts';

const SIZE = 65_536;

function stateFor(local: Record<string, unknown>): AllocationState {
  const { config, problems } = parseServiceGroup({
    metadata: { name: 'default', namespace: 'purelb' },
    spec: { local },
  });
  if (!config) throw new Error(JSON.stringify(problems));
  const state = new AllocationState();
  state.setGroups([config]);
  return state;
}

const services = (family: 'IPv4' | 'IPv6'): V1Service[] =>
  Array.from({ length: SIZE }, (_, i) => ({
    metadata: { name: `svc-${i}`, namespace: 'bench', annotations: {} },
    spec: {
      type: 'LoadBalancer',
      ipFamilies: [family],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ port: 80, protocol: 'TCP' }],
    },
  }));

function allocate(state: AllocationState, svc: V1Service): void {
  const req = readRequest(svc);
  const plan = planAllocation(req, state);
  if (!plan.ok) throw new Error(`${req.service}: ${plan.message}`);
  applyPlan(req, plan, state);
}

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(2);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function run(label: string, local: Record<string, unknown>, family: 'IPv4' | 'IPv6'): void {
  const svcs = services(family);
  const reqs = svcs.map((s) => readRequest(s)); // the request of every Service, for the release passes
  const state = stateFor(local);

  // throughput: every address allocated, then every one released
  let t = performance.now();
  for (const svc of svcs) allocate(state, svc);
  const allocMs = performance.now() - t;
  const full = planAllocation(readRequest({ ...svcs[0]!, metadata: { name: 'one-more', namespace: 'bench' } }), state);
  if (full.ok) throw new Error('pool should be exhausted');
  t = performance.now();
  for (const req of reqs) state.release(req.service);
  const releaseMs = performance.now() - t;
  const stats = state.pools.stats('default')[family === 'IPv4' ? 4 : 6];
  if (stats.free !== stats.size) throw new Error('not everything was released');

  // growth: cost of 1,024 more allocations with N already in use (median of 5 rounds, each released again)
  const levels = [1_024, 2_048, 4_096, 8_192, 16_384, 32_768, 64_512];
  const growth: string[] = [];
  let filled = 0;
  for (const n of levels) {
    for (; filled < n; filled++) allocate(state, svcs[filled]!);
    const rounds: number[] = [];
    for (let round = 0; round < 5; round++) {
      t = performance.now();
      for (let i = n; i < n + 1_024; i++) allocate(state, svcs[i]!);
      rounds.push(performance.now() - t);
      for (let i = n; i < n + 1_024; i++) state.release(reqs[i]!.service);
    }
    growth.push(`${fmt(n)}: ${us(median(rounds), 1_024)}`);
  }

  // fragmented: full, every other address released, then re-allocated into the 32,768 one-address holes
  for (; filled < SIZE; filled++) allocate(state, svcs[filled]!);
  for (let i = 0; i < SIZE; i += 2) state.release(reqs[i]!.service);
  t = performance.now();
  for (let i = 0; i < SIZE; i += 2) allocate(state, svcs[i]!);
  const fragMs = performance.now() - t;

  console.log(
    `${label}: ${fmt(SIZE)} allocations in ${allocMs.toFixed(0)} ms (${fmt(SIZE / (allocMs / 1000))} alloc/s), ` +
      `${fmt(SIZE)} releases in ${releaseMs.toFixed(0)} ms (${fmt(SIZE / (releaseMs / 1000))} release/s)`,
  );
  console.log(`  µs per allocation with N in use: ${growth.join(', ')}`);
  console.log(`  fragmented (32,768 one-address holes): ${us(fragMs, SIZE / 2)} µs per allocation`);
}

// one untimed pass first so the JIT has compiled the hot paths before anything is measured
run('warm-up (ignore)', { v4pool: { pool: '10.9.0.0/16', subnet: '10.9.0.0/16' } }, 'IPv4');
run('IPv4 /16 (10.189.0.0/16)', { v4pool: { pool: '10.189.0.0/16', subnet: '10.189.0.0/16' } }, 'IPv4');
run('IPv6 /112 (fd00:189::/112)', { v6pool: { pool: 'fd00:189::/112', subnet: 'fd00:189::/64' } }, 'IPv6');
