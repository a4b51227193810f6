// Benchmark (b): the allocator against a real kube-apiserver + etcd (the test harness's cluster).
//  1. apiserver floor: create 2,000 Services and give each, from this process, the same writes the
//     allocator makes (one services/status merge patch with address and annotations, one Event):
//     what the apiserver alone costs;
//  2. allocator: `purelb allocator` as a child process; create 2,000 Services and time, per Service,
//     from its create returning to a watch seeing its address and brand.
// Prints services/s and p50/p99 create-to-address latency for both, so the allocator's overhead shows,
// and the allocator's RSS (under the Deployment's NODE_OPTIONS unless set) while and after it works.
// Run: npm run bench:allocator (or node bench/allocator-apiserver.ts [count] [concurrency] [no-floor])
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, KubeConfig, type V1Service } from '@kubernetes/client-node';
import { startCluster } from '../src/lab/cluster/cluster.ts';
import { repoRoot } from '../src/lab/cluster/binaries.ts';
import { watchCache } from '../src/k8s/informer.ts';
import { createEventRecorder } from '../src/k8s/events.ts';
import { createLogger } from '../src/log.ts';
import { applyCRDs, freshNamespace, kubeClient, mergePatch, waitFor } from '../test/harness/kube.ts';
import { putServiceGroup, serviceBody } from '../test/integration/allocator-fixtures.ts';

const COUNT = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const FLOOR = process.argv[4] !== 'no-floor';
// the allocator inherits the Deployment's heap limit unless the caller sets another
process.env.NODE_OPTIONS ??= '--max-old-space-size=192';
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** Runs fn for 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

// 4,000 LoadBalancer Services would exhaust the node-port range (30000-32767): the bench needs none
const benchService = (name: string): V1Service => {
  const body = serviceBody(name);
  body.spec!.allocateLoadBalancerNodePorts = false;
  return body;
};

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const report = (label: string, wallMs: number, latencies: number[]) => {
  const s = [...latencies].sort((a, b) => a - b);
  console.log(
    `${label}: ${COUNT} Services in ${(wallMs / 1000).toFixed(1)} s = ${(COUNT / (wallMs / 1000)).toFixed(0)} services/s; ` +
      `create-to-address p50 ${pct(s, 50).toFixed(0)} ms, p99 ${pct(s, 99).toFixed(0)} ms`,
  );
};

const cluster = await startCluster();
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
let allocator: ReturnType<typeof spawn> | undefined;
try {
  await applyCRDs(kc);

  // 1. the apiserver floor: create + the allocator's two patches, written directly
  if (FLOOR) await apiserverFloor();
  async function apiserverFloor() {
    const floorNs = await freshNamespace(kc, 'floor');
    const floorLatency: number[] = [];
    const events = createEventRecorder(kubeClient(kc), 'bench', createLogger('bench'));
    const t0 = performance.now();
    await pool(COUNT, CONCURRENCY, async (i) => {
      const name = `svc-${i}`;
      await core.createNamespacedService({ namespace: floorNs, body: benchService(name) });
      const created = performance.now();
      const ip = `10.201.${i >> 8}.${i & 255}`;
      const svc = await core.patchNamespacedServiceStatus(
        {
          namespace: floorNs,
          name,
          body: {
            metadata: { annotations: { 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'default' } },
            status: { loadBalancer: { ingress: [{ ip }] } },
          },
        },
        mergePatch,
      );
      floorLatency.push(performance.now() - created);
      events.emit(
        { ...svc, apiVersion: 'v1', kind: 'Service' },
        'Normal',
        'AddressAssigned',
        `Assigned ${ip} from ServiceGroup default`,
      );
    });
    await events.flush();
    report(
      `apiserver floor (create + status/annotations patch + event from the client, concurrency ${CONCURRENCY})`,
      performance.now() - t0,
      floorLatency,
    );
  }

  // 2. the allocator
  const ns = await freshNamespace(kc, 'bench');
  await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.200.0.0/16', subnet: '10.200.0.0/16' } });
  allocator = spawn(
    process.execPath,
    [
      join(repoRoot, 'bin/purelb.js'),
      'allocator',
      '--kubeconfig',
      cluster.kubeconfig,
      '--namespace',
      ns,
      '--service-namespace',
      ns,
      '--leader-elect',
      'false',
      '--health-host',
      '127.0.0.1',
      '--health-port',
      '0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let logs = '';
  allocator.stderr!.on('data', (d: Buffer) => void (logs += d.toString()));
  await waitFor('allocator leading', async () => logs.includes('usage rebuilt'));
  const healthPort = Number(/"healthPort":(\d+)/.exec(logs)?.[1]);

  const createdAt = new Map<string, number>();
  const addressedAt = new Map<string, number>();
  const watch = watchCache<V1Service>(kubeClient(kc), `/api/v1/namespaces/${ns}/services`, createLogger('bench'));
  watch.onChange((svc) => {
    const name = svc?.metadata?.name;
    if (
      name &&
      !addressedAt.has(name) &&
      svc.status?.loadBalancer?.ingress?.length &&
      svc.metadata?.annotations?.['purelb.io/allocated-from']
    ) {
      addressedAt.set(name, performance.now());
    }
  });
  await watch.synced;
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssMiB(allocator!.pid!)), 500);
  const t0 = performance.now();
  await pool(COUNT, CONCURRENCY, async (i) => {
    const name = `svc-${i}`;
    await core.createNamespacedService({ namespace: ns, body: benchService(name) });
    createdAt.set(name, performance.now());
  });
  await waitFor('every Service addressed', async () => addressedAt.size === COUNT, 600_000);
  clearInterval(sampler);
  const wall = Math.max(...addressedAt.values()) - t0;
  report(
    `allocator (child process, creates at concurrency ${CONCURRENCY})`,
    wall,
    [...createdAt].map(([n, c]) => addressedAt.get(n)! - c),
  );
  const ips = new Set(watch.list().map((s) => s.status?.loadBalancer?.ingress?.[0]?.ip));
  if (ips.size !== COUNT) throw new Error(`expected ${COUNT} distinct addresses, got ${ips.size}`);
  const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
  const sum = Number(/purelb_allocator_reconcile_duration_seconds_sum ([\d.e+-]+)/.exec(metrics)?.[1]);
  const count = Number(/purelb_allocator_reconcile_duration_seconds_count (\d+)/.exec(metrics)?.[1]);
  console.log(
    `  allocator reconciles: ${count} (mean ${((sum / count) * 1000).toFixed(1)} ms each, including its write; a watch echo that arrives before the write returns costs a no-op reconcile); all ${COUNT} addresses distinct`,
  );
  await sleep(10_000);
  console.log(
    `  allocator RSS (${process.env.NODE_OPTIONS}): ${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MiB while ` +
      `the ${COUNT} Services were created, ${rssMiB(allocator.pid!).toFixed(0)} MiB 10 s after the last address`,
  );
  await watch.stop();
} finally {
  if (allocator && allocator.exitCode === null) {
    allocator.kill('SIGTERM');
    await new Promise((r) => allocator!.once('exit', r));
  }
  await cluster.stop();
}
