// Benchmark (c): leader failover. Two `purelb allocator` processes on the real apiserver; the leader
// is killed with SIGKILL; measured: kill -> the standby holds the Lease, and kill -> a Service created
// right after the kill has its address. Repeated per run; a fresh pair of processes each time.
// Run: npm run bench:allocator (or npx node bench/allocator-failover.ts [runs] [leaseSeconds])
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { LEASE_NAME } from '../src/cli/allocator.ts';
import { repoRoot } from '../src/lab/cluster/binaries.ts';
import { startCluster } from '../src/lab/cluster/cluster.ts';
import { applyCRDs, freshNamespace, waitFor } from '../test/harness/kube.ts';
import { putServiceGroup, serviceBody } from '../test/integration/allocator-fixtures.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const RUNS = Number(process.argv[2] ?? 3);
const LEASE = Number(process.argv[3] ?? 4);
// the CLI defaults' proportions (15 / 10 / 2 s)
const RENEW = (LEASE * 2) / 3;
const RETRY = (LEASE * 2) / 15;

const cluster = await startCluster();
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const leases = kc.makeApiClient(CoordinationV1Api);
const children: ChildProcess[] = [];
const start = (ns: string, identity: string) => {
  const child = spawn(
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
      '--identity',
      identity,
      '--health-host',
      '127.0.0.1',
      '--health-port',
      '0',
      '--lease-duration',
      String(LEASE),
      '--renew-deadline',
      String(RENEW),
      '--retry-period',
      String(RETRY),
    ],
    { stdio: 'ignore' },
  );
  children.push(child);
  return child;
};
const holder = async (ns: string) =>
  (await leases.readNamespacedLease({ namespace: ns, name: LEASE_NAME }).catch(() => undefined))?.spec
    ?.holderIdentity ?? '';

try {
  await applyCRDs(kc);
  const toLease: number[] = [];
  const toAddress: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const ns = await freshNamespace(kc, 'failover');
    await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.90.0.1-10.90.0.99', subnet: '10.90.0.0/24' } });
    const pair = { a: start(ns, 'a'), b: start(ns, 'b') };
    const leader = (await waitFor('a leader', async () => (await holder(ns)) || undefined, 30_000)) as 'a' | 'b';
    await core.createNamespacedService({ namespace: ns, body: serviceBody('warm') });
    await waitFor(
      'warm addressed',
      async () =>
        !!(await core.readNamespacedService({ namespace: ns, name: 'warm' })).status?.loadBalancer?.ingress?.length,
    );
    await sleep(RETRY * 2000); // let the standby settle into its retry rhythm
    const killed = performance.now();
    pair[leader].kill('SIGKILL');
    await core.createNamespacedService({ namespace: ns, body: serviceBody('after-kill') });
    const standby = leader === 'a' ? 'b' : 'a';
    await waitFor('standby leads', async () => (await holder(ns)) === standby, 60_000);
    toLease.push(performance.now() - killed);
    await waitFor(
      'after-kill addressed',
      async () =>
        !!(await core.readNamespacedService({ namespace: ns, name: 'after-kill' })).status?.loadBalancer?.ingress
          ?.length,
      60_000,
    );
    toAddress.push(performance.now() - killed);
    for (const c of [pair.a, pair.b]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
  const show = (xs: number[]) => xs.map((x) => `${(x / 1000).toFixed(2)} s`).join(', ');
  const fmt = (n: number) => Number(n.toFixed(2));
  console.log(`failover (lease ${LEASE} s, renew deadline ${fmt(RENEW)} s, retry ${fmt(RETRY)} s), ${RUNS} runs:`);
  console.log(`  SIGKILL -> standby holds the Lease: ${show(toLease)}`);
  console.log(`  SIGKILL -> a Service created after the kill has its address: ${show(toAddress)}`);
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cluster.stop();
}
