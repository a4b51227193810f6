// Benchmark: one node agent (a child process in a network namespace) with 10,000 Services, each with a
// virtual address (ETP Cluster, /32 aggregation), against a real apiserver. Measures:
//  - startup: agent start -> all 10,000 addresses on kube-lb0;
//  - one more Service: ingress written -> its address on kube-lb0;
//  - steady state: CPU time and RSS of the agent over 30 s with nothing changing.
// Run: npm run bench:agent (or npx node bench/agent-steady.ts [count] [idle-seconds])
import { GROUP, VERSION } from '../src/api/names.ts';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, CustomObjectsApi, EventsV1Api, KubeConfig } from '@kubernetes/client-node';
import { startCluster } from '../src/lab/cluster/cluster.ts';
import { applyCRDs, freshNamespace } from '../test/harness/kube.ts';
import { createBrandedService, createLan, type Lan, type LanNode } from '../test/integration/agent-lan.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const COUNT = Number(process.argv[2] ?? 10_000);
const IDLE_S = Number(process.argv[3] ?? 30);
const CONCURRENCY = 48;
const TICKS_PER_S = 100; // USER_HZ on Linux

const ipOf = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S; // utime, stime
};
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const virtualCount = (n: LanNode) => {
  try {
    return execFileSync('ip', ['-n', n.netns, '-o', '-4', 'addr', 'show', 'dev', 'kube-lb0'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .split('\n')
      .filter(Boolean).length;
  } catch {
    return 0; // kube-lb0 not created yet
  }
};
const hasAddress = (n: LanNode, ip: string) =>
  execFileSync('ip', ['-n', n.netns, '-o', 'addr', 'show', 'dev', 'kube-lb0', 'to', `${ip}/32`])
    .toString()
    .trim() !== '';

const cluster = await startCluster();
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
let lan: Lan | undefined;
try {
  await applyCRDs(kc);
  const install = await freshNamespace(kc, 'purelb');
  const apps = await freshNamespace(kc, 'apps');
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: install,
    plural: 'servicegroups',
    body: {
      apiVersion: 'purelb.io/v1',
      kind: 'ServiceGroup',
      metadata: { name: 'virt' },
      spec: { local: { v4pool: { subnet: '10.96.0.0/12', pool: '10.96.0.0/12', aggregation: '/32' } } },
    },
  });
  let t = performance.now();
  await pool(COUNT, CONCURRENCY, (i) => createBrandedService(core, apps, `s${i}`, [ipOf(i + 1)], { group: 'virt' }));
  console.log(
    `setup: ${COUNT} branded Services with ingress written in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  lan = await createLan(1, Number(new URL(kc.getCurrentCluster()!.server).port));
  const n = lan.nodes[0]!;
  t = performance.now();
  const agent = await lan.startAgent(n, [
    '--kubeconfig',
    cluster.kubeconfig,
    '--namespace',
    install,
    '--routing',
    'off',
  ]);
  while (virtualCount(n) < COUNT) {
    if (agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}`);
    await sleep(200);
  }
  console.log(
    `startup: agent start -> ${COUNT} virtual addresses on kube-lb0 in ${((performance.now() - t) / 1000).toFixed(1)} s; RSS ${rssMiB(agent.pid!).toFixed(0)} MiB`,
  );

  await sleep(3000);
  const extra = ipOf(COUNT + 1);
  t = performance.now();
  await createBrandedService(core, apps, 'one-more', [extra], { group: 'virt' });
  const written = performance.now();
  while (!hasAddress(n, extra)) await sleep(10);
  console.log(
    `one Service more among ${COUNT}: ingress written -> on kube-lb0 in ${(performance.now() - written).toFixed(0)} ms (create + status patch took ${(written - t).toFixed(0)} ms)`,
  );

  // let the first reconcile's events (at most 1,000 queued, the rest dropped) drain before measuring
  const eventsApi = kc.makeApiClient(EventsV1Api);
  const eventCount = async () => {
    const page = await eventsApi.listNamespacedEvent({ namespace: apps, limit: 1 });
    return page.items.length + (page.metadata?.remainingItemCount ?? 0);
  };
  for (let last = -1, now = await eventCount(); now !== last; last = now, now = await eventCount()) {
    await sleep(5000);
  }
  console.log(
    `events: ${await eventCount()} written by the agent for ${COUNT + 1} Services (the rest dropped beyond the 1,000 backlog)`,
  );
  const cpu0 = cpuSeconds(agent.pid!);
  const rss: number[] = [];
  for (let s = 0; s < IDLE_S; s++) {
    await sleep(1000);
    rss.push(rssMiB(agent.pid!));
  }
  const cpu = cpuSeconds(agent.pid!) - cpu0;
  console.log(
    `steady state with ${COUNT + 1} Services over ${IDLE_S} s: CPU ${((100 * cpu) / IDLE_S).toFixed(1)} % of one core ` +
      `(${cpu.toFixed(2)} s), RSS ${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MiB`,
  );
  if (process.env.PURELB_BENCH_HOLD_S) await sleep(Number(process.env.PURELB_BENCH_HOLD_S) * 1000);
  const log = readFileSync(n.logFile, 'utf8').split('\n').filter(Boolean);
  const warnings = log.filter((l) => /"level":"(warn|error)"/.test(l));
  console.log(
    `agent log: ${log.length} lines, ${warnings.length} warnings/errors; last: ${warnings
      .slice(-3)
      .map((l) => l.slice(0, 300))
      .join('\n')}`,
  );
} finally {
  await lan?.destroy();
  await cluster.stop();
}
