// Benchmark: what the agents' liveness costs the API server at N nodes (issue 11). For each N it starts a
// fresh apiserver + etcd and N simulated nodes in this process. Each node runs the agent's real heartbeat
// writer (src/agent/heartbeat.ts, with its segment labels) and the agent's real per-segment watch of the
// peers' heartbeat Leases (src/agent/segment-leases.ts), with a KubeClient (and so connections) of its
// own. Nodes sit in L2 segments of --segment-size nodes, one /24 each. After a warm-up it reads over a window:
//  - mutating requests/s and watch events/s by resource (the apiserver's own /metrics);
//  - CPU of kube-apiserver and etcd, and of this process (all N simulated nodes) with its RSS;
//  - Lease events received per node per second (mean and highest), and failed renewals.
// Not simulated: elections, Services, the kernel, and anything beyond the Lease (no LAN probes).
// With --failover-trials K, three real agents (bench/failover-trials.ts) then join the same apiserver
// while the N simulated nodes keep running, with --services M Services of virtual addresses: their RSS
// and CPU over a window, and K hard-kill and K graceful failovers of a local address.
// Run: npm run bench:scale -- [N...] [--segment-size 50] [--heartbeat-renew D] [--heartbeat-duration D]
// [--failover-trials K] [--services M] (renew and duration default to the agent's own defaults;
// SCALE_WINDOW_S=30). Default N: 10 100 300 1000.
import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '../src/k8s/kubeconfig.ts';
import { KubeClient } from '../src/k8s/rest.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startHeartbeat, type HeartbeatWriter } from '../src/agent/heartbeat.ts';
import { leaseWatches, segmentLeases, type SegmentLeases } from '../src/agent/segment-leases.ts';
import { OPTIONS } from '../src/cli/agent.ts';
import { parseDuration } from '../src/cli/options.ts';
import { startCluster, type Cluster } from '../src/lab/cluster/cluster.ts';
import { readState } from '../src/lab/cluster/processes.ts';
import { createLogger } from '../src/log.ts';
import { createBrandedService } from '../test/integration/agent-lan.ts';
import { startFailoverLab, median } from './failover-trials.ts';
import { withRetries } from './pool.ts';
import { apiserverMetrics, cpuSeconds, rssMiB as rssOf, sumCounter } from './measure.ts';

process.env.PURELB_LOG_LEVEL ??= 'error'; // N nodes' warnings would drown the table
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'segment-size': { type: 'string', default: '50' },
    'heartbeat-renew': { type: 'string', default: OPTIONS['heartbeat-renew'].default },
    'heartbeat-duration': { type: 'string', default: OPTIONS['heartbeat-duration'].default },
    'failover-trials': { type: 'string', default: '0' },
    services: { type: 'string', default: '0' },
  },
});
const SIZES = positionals.map(Number).filter(Boolean);
const WINDOW_S = Number(process.env.SCALE_WINDOW_S ?? 30);
const SEGMENT = Number(values['segment-size']);
const NAMESPACE = 'purelb';
const RENEW_MS = parseDuration(values['heartbeat-renew'], 'heartbeat-renew');
const DURATION_S = parseDuration(values['heartbeat-duration'], 'heartbeat-duration') / 1000;
// every node has renewed at least once with its segment known before the window starts
const WARMUP_S = Math.max(10, RENEW_MS / 1000 + 2);
const TRIALS = Number(values['failover-trials']);
const SERVICES = Number(values.services);
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY', 'CREATE', 'UPDATE']);
const log = createLogger('scale-bench');

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

const writesByResource = (m: string) =>
  sumCounter(m, 'apiserver_request_total', (l) =>
    MUTATING.has(l.verb ?? '') ? `${l.verb} ${l.resource}${l.subresource ? `/${l.subresource}` : ''}` : undefined,
  );
const watchEventsByResource = (m: string) =>
  sumCounter(m, 'apiserver_watch_events_total', (l) => l.resource ?? l.kind ?? '?');
function ratePerS(before: Map<string, number>, after: Map<string, number>, seconds: number) {
  return Object.fromEntries(
    [...after]
      .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / seconds] as const)
      .filter(([, r]) => r >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([k, r]) => [k, Math.round(r * 10) / 10]),
  );
}

interface SimulatedNode {
  heartbeat: HeartbeatWriter;
  leases: SegmentLeases;
  /** Lease add/update/delete events this node's watches delivered. */
  events: number;
  /** Resolves when its segment's Leases were listed once. */
  listed: Promise<void>;
}

function simulateNode(cluster: Cluster, i: number, renewFailures: { n: number }): SimulatedNode {
  const kc = new KubeClient(loadKubeConfig(cluster.kubeconfig));
  const segment = Math.floor(i / SEGMENT);
  const heartbeat = startHeartbeat({
    kc,
    namespace: NAMESPACE,
    node: `sim-${String(i).padStart(4, '0')}`,
    renewMs: RENEW_MS,
    durationS: DURATION_S,
    log,
    onLiveChange: () => {},
    onRenewFailure: () => renewFailures.n++,
  });
  const subnets = [`10.${200 + (segment >> 8)}.${segment & 255}.0/24`];
  heartbeat.setSubnets(subnets);
  const leases = segmentLeases(leaseWatches(kc, NAMESPACE, log));
  const node: SimulatedNode = { heartbeat, leases, events: 0, listed: leases.setSegments(subnets) };
  leases.onChange((_, kind) => {
    if (kind !== 'relist') node.events++;
  });
  return node;
}

/** A loaded apiserver drops connections now and then (seen at 1,000 nodes): any error is tried again.
 * A Service created before the drop (409 on the retry) is there. */
const createdOnce = (create: () => Promise<void>) =>
  withRetries(
    () =>
      create().catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      }),
    () => true,
  );

/** Three real agents on the loaded apiserver: with SERVICES virtual addresses, their RSS and CPU over a
 * window, then TRIALS hard-kill and graceful failovers (medians, ms). */
async function realAgents(kc: KubeConfig, kubeconfig: string) {
  const core = kc.makeApiClient(CoreV1Api);
  // created before the agents start: each Service created later costs every agent a full reconcile,
  // which held creation at 1.5-5 Services/s at 1,000 nodes (45 minutes for 10,000)
  const createServices = async (apps: string) => {
    for (let i = 0; i < SERVICES; i += 20)
      await Promise.all(
        Array.from({ length: Math.min(20, SERVICES - i) }, (_, j) =>
          createdOnce(() =>
            createBrandedService(core, apps, `virtual-${i + j}`, [`10.100.${(i + j) >> 8}.${(i + j) & 255}`]),
          ),
        ),
      );
  };
  const lab = await startFailoverLab(
    kc,
    kubeconfig,
    ['--heartbeat-renew', values['heartbeat-renew'], '--heartbeat-duration', values['heartbeat-duration']],
    createServices,
  );
  try {
    const placed = () => lab.lan.nodes.every((n) => lab.lan.addresses(n, 'kube-lb0').length >= SERVICES);
    for (const end = Date.now() + 600_000; !placed() && Date.now() < end;) await sleep(5000);
    await sleep(10_000); // the announcing writes and events of the start have drained
    const pids = lab.pids();
    const c0 = pids.map(cpuSeconds);
    const t0 = Date.now();
    await sleep(WINDOW_S * 1000);
    const s = (Date.now() - t0) / 1000;
    const cpu = pids.map((p, i) => Math.round(((cpuSeconds(p) - c0[i]!) / s) * 1000) / 10);
    const rss = pids.map((p) => Math.round(rssOf(p)));
    const kill = await lab.trials('SIGKILL', TRIALS, 100);
    const term = await lab.trials('SIGTERM', TRIALS, 150);
    return {
      services: SERVICES,
      allPlaced: placed(),
      rssMiB: rss,
      cpuPercentOfACore: cpu,
      hardKillMs: { median: Math.round(median(kill.ms)), max: Math.round(Math.max(...kill.ms)) },
      gracefulMs: { median: Math.round(median(term.ms)), max: Math.round(Math.max(...term.ms)) },
      // where the time goes: the successor declared the owner silent, then added the address
      hardKillDetectedMedianMs: Math.round(median(kill.detectMs)),
      hardKillAddedMedianMs: Math.round(median(kill.addedMs)),
      gracefulAddedMedianMs: Math.round(median(term.addedMs)),
    };
  } finally {
    await lab.destroy();
  }
}

async function measure(n: number) {
  const cluster = await startCluster();
  const nodes: SimulatedNode[] = [];
  try {
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfig);
    await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
    const renewFailures = { n: 0 };
    for (let i = 0; i < n; i++) nodes.push(simulateNode(cluster, i, renewFailures));
    for (let i = 0; i < n; i += 20) await Promise.all(nodes.slice(i, i + 20).map((x) => x.heartbeat.start()));
    await Promise.all(nodes.map((x) => x.listed));
    await sleep(WARMUP_S * 1000);
    const pids = Object.fromEntries(readState(cluster.dir).processes.map((p) => [p.name, p.pid]));
    const cpu = () => ({
      apiserver: cpuSeconds(pids['kube-apiserver']!),
      etcd: cpuSeconds(pids.etcd!),
      self: cpuSeconds(process.pid),
    });
    const [m0, c0, e0, f0, t0] = [
      await apiserverMetrics(cluster.kubeconfig),
      cpu(),
      nodes.map((x) => x.events),
      renewFailures.n,
      Date.now(),
    ];
    await sleep(WINDOW_S * 1000);
    const [m1, c1, e1, f1, t1] = [
      await apiserverMetrics(cluster.kubeconfig),
      cpu(),
      nodes.map((x) => x.events),
      renewFailures.n,
      Date.now(),
    ];
    const s = (t1 - t0) / 1000;
    const pct = (k: keyof typeof c0) => Math.round(((c1[k] - c0[k]) / s) * 1000) / 10;
    const perNode = e1.map((v, i) => (v - e0[i]!) / s);
    return {
      nodes: n,
      windowS: Math.round(s),
      writesPerS: ratePerS(writesByResource(m0), writesByResource(m1), s),
      watchEventsPerS: ratePerS(watchEventsByResource(m0), watchEventsByResource(m1), s),
      leaseEventsPerNodePerS: Math.round((perNode.reduce((a, b) => a + b, 0) / n) * 10) / 10,
      leaseEventsMaxPerNodePerS: Math.round(Math.max(...perNode) * 10) / 10,
      renewFailures: f1 - f0,
      cpuPercentOfACore: { apiserver: pct('apiserver'), etcd: pct('etcd'), simulatedNodes: pct('self') },
      simulatedNodesRssMiB: Math.round(rssMiB()),
      ...(TRIALS > 0 ? { realAgents: await realAgents(admin, cluster.kubeconfig) } : {}),
    };
  } finally {
    await Promise.all(nodes.map((x) => x.heartbeat.stop(false)));
    await Promise.all(nodes.map((x) => x.leases.stop()));
    await cluster.stop();
  }
}

const results = [];
for (const n of SIZES.length ? SIZES : [10, 100, 300, 1000]) {
  const r = await measure(n);
  console.log(JSON.stringify(r));
  results.push(r);
}
console.log(`\nrenew ${RENEW_MS} ms, duration ${DURATION_S} s, ${SEGMENT} nodes per segment, window ${WINDOW_S} s`);
console.log(
  "| nodes | writes/s (all) | Lease watch events/s (apiserver) | Lease events per node/s (mean, highest) | apiserver CPU | etcd CPU | N nodes' CPU | N nodes' RSS | failed renewals |",
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const total = Object.values(r.writesPerS).reduce((a, b) => a + b, 0);
  console.log(
    `| ${r.nodes} | ${Math.round(total * 10) / 10} | ${r.watchEventsPerS.leases ?? 0} | ${r.leaseEventsPerNodePerS}, ${r.leaseEventsMaxPerNodePerS} | ${r.cpuPercentOfACore.apiserver} % | ${r.cpuPercentOfACore.etcd} % | ${r.cpuPercentOfACore.simulatedNodes} % | ${r.simulatedNodesRssMiB} MiB | ${r.renewFailures} |`,
  );
}
for (const r of results.filter((x) => x.realAgents)) {
  const a = r.realAgents!;
  console.log(
    `${r.nodes} nodes, 3 real agents with ${a.services} Services (all placed: ${a.allPlaced}): RSS ${a.rssMiB.join('/')} MiB, CPU ${a.cpuPercentOfACore.join('/')} %, hard kill median ${a.hardKillMs.median} ms (max ${a.hardKillMs.max}), graceful median ${a.gracefulMs.median} ms (max ${a.gracefulMs.max}); medians of the successor's log: owner silent after ${a.hardKillDetectedMedianMs} ms and address added after ${a.hardKillAddedMedianMs} ms (hard kill), added after ${a.gracefulAddedMedianMs} ms (graceful)`,
  );
}
process.exit(0);
