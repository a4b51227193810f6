// Benchmark (b): the allocator against a real kube-apiserver + etcd (the test harness's cluster).
//  1. apiserver floor: create 2,000 Services and give each, from this process, the same writes the
//     allocator makes (one services/status merge patch with address and annotations, one Event):
//     what the apiserver alone costs;
//  2. allocator: `purelb allocator` as a child process; create 2,000 Services and time, per Service,
//     from its create returning to a watch seeing its address and brand.
// Prints services/s and p50/p99 create-to-address latency for both, so the allocator's overhead shows,
// and the allocator's RSS (under the Deployment's NODE_OPTIONS unless set) while and after it works,
// and where its memory goes then (bench/measure.ts, memoryBreakdown). An overloaded apiserver's 504 or
// 429 on a create is retried (bench/pool.ts), so 10,000 Services get through a loaded machine.
// Run: npm run bench:allocator (or node bench/allocator-apiserver.ts [count] [concurrency] [no-floor] [--compiled])
//   --compiled  run src/ compiled to JavaScript, as the images ship it (test/harness/shipped.ts), not the sources,
//               with the node flags of the allocator image's ENTRYPOINT
import { spawn } from 'node:child_process';
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
import { imageNodeFlags, manifestNodeOptions, memoryBreakdown, memoryReportPreload, rssMiB } from './measure.ts';
import { pool } from './pool.ts';
import { shippedTree } from '../test/harness/shipped.ts';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const COUNT = Number(positional[0] ?? 2000);
const CONCURRENCY = Number(positional[1] ?? 16);
const FLOOR = positional[2] !== 'no-floor';
const shipped = process.argv.includes('--compiled') ? shippedTree() : undefined;
// the allocator runs under the Deployment's NODE_OPTIONS unless the caller sets others, plus the preload
// that reports its V8 heap on SIGUSR2
process.env.NODE_OPTIONS ??= manifestNodeOptions(join(repoRoot, 'deploy/purelb/base/allocator-deployment.yaml'));
const NODE_OPTIONS = process.env.NODE_OPTIONS;
process.env.NODE_OPTIONS = `${NODE_OPTIONS} --import=${memoryReportPreload}`;
/** A create retried after a 504 may find the Service its first attempt made. */
const existing = (err: unknown) => {
  if ((err as { code?: number }).code !== 409) throw err;
};

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
      await core.createNamespacedService({ namespace: floorNs, body: benchService(name) }).catch(existing);
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
      ...(shipped ? imageNodeFlags('allocator') : []), // as the image's ENTRYPOINT runs node
      shipped?.entry ?? join(repoRoot, 'bin/purelb.js'),
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
    await core.createNamespacedService({ namespace: ns, body: benchService(name) }).catch(existing);
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
    `  allocator RSS (${shipped ? 'compiled JavaScript' : 'TypeScript sources'}, ${NODE_OPTIONS}): ` +
      `${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MiB while ` +
      `the ${COUNT} Services were created, ${rssMiB(allocator.pid!).toFixed(0)} MiB 10 s after the last address`,
  );
  console.log(`  allocator memory then: ${await memoryBreakdown(allocator.pid!, () => logs)}`);
  await watch.stop();
} finally {
  if (allocator && allocator.exitCode === null) {
    allocator.kill('SIGTERM');
    await new Promise((r) => allocator!.once('exit', r));
  }
  await cluster.stop();
  shipped?.remove();
}
