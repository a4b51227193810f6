// Benchmark: one node agent (a child process in a network namespace) with 10,000 Services, each with a
// virtual address (ETP Cluster, /32 aggregation) or a local address (on eth0, in a /16 the bench adds
// there), against a real apiserver, under the DaemonSet's NODE_OPTIONS. Measures:
//  - idle: RSS and CPU of the agent over the idle period before any Service exists;
//  - startup: agent start -> all 10,000 addresses placed;
//  - one more Service: ingress written -> its address placed;
//  - steady state: CPU time and RSS of the agent over 30 s with nothing changing.
// It also says where the agent's memory goes at the end of the idle and steady periods (bench/measure.ts,
// memoryBreakdown).
// Run: npm run bench:agent (or node bench/agent-steady.ts [count] [idle-seconds] [virtual|local] [options])
//   --compiled            run src/ compiled to JavaScript, as the images ship it (test/harness/shipped.ts),
//                         not the TypeScript sources, with the node flags of the agent image's ENTRYPOINT
//   --node-options=OPTS   run the agent under NODE_OPTIONS=OPTS instead of the DaemonSet's; repeated, each
//                         set is measured in turn (idle, then startup to steady state on the same
//                         Services, so flags compare without creating 10,000 Services per set). Words
//                         NAME=value go to the agent's environment instead (MALLOC_ARENA_MAX=2), words
//                         argv:FLAG on node's command line (V8 flags NODE_OPTIONS refuses, e.g.
//                         argv:--optimize-for-size)
// PURELB_HEAP_SNAPSHOT_DIR=dir: the agent also writes a heap snapshot there at the end of each period

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, CustomObjectsApi, EventsV1Api, KubeConfig } from '@kubernetes/client-node';
import { startCluster } from '../src/lab/cluster/cluster.ts';
import { applyCRDs, freshNamespace } from '../test/harness/kube.ts';
import {
  createBrandedService,
  createLan,
  createServiceGroup,
  patchServiceIngress,
  type Lan,
  type LanNode,
} from '../test/integration/agent-lan.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { repoRoot } from '../src/lab/cluster/binaries.ts';
import {
  cpuSeconds,
  imageNodeFlags,
  manifestNodeOptions,
  memoryBreakdown,
  memoryReportPreload,
  rssMiB,
} from './measure.ts';
import { pool } from './pool.ts';
import { shippedTree } from '../test/harness/shipped.ts';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const COUNT = Number(positional[0] ?? 10_000);
const IDLE_S = Number(positional[1] ?? 30);
const KIND = positional[2] === 'local' ? 'local' : 'virtual';
const shipped = process.argv.includes('--compiled') ? shippedTree() : undefined;
const given = process.argv.filter((a) => a.startsWith('--node-options=')).map((a) => a.slice('--node-options='.length));
// as the image runs it: the ENTRYPOINT's node flags (argv:) and the DaemonSet's NODE_OPTIONS
const imageFlags = shipped ? imageNodeFlags('agent').map((f) => `argv:${f}`) : [];
const VARIANTS = given.length
  ? given
  : [[manifestNodeOptions(join(repoRoot, 'deploy/purelb/base/lbnodeagent-daemonset.yaml')), ...imageFlags].join(' ')];
const program = shipped ? 'compiled JavaScript' : 'TypeScript sources';
const IFNAME = KIND === 'local' ? 'eth0' : 'kube-lb0';
const LOCAL_SUBNET = '10.200.0.0/16';
const CONCURRENCY = 16;

const ipOf = (i: number) =>
  KIND === 'local' ? `10.200.${(i >> 8) & 255}.${i & 255}` : `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

/** CPU (% of one core) and RSS range of a process over `seconds`. */
async function measure(pid: number, seconds: number): Promise<{ cpu: string; rss: string }> {
  const cpu0 = cpuSeconds(pid);
  const rss: number[] = [];
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    rss.push(rssMiB(pid));
  }
  const cpu = cpuSeconds(pid) - cpu0;
  return {
    cpu: `${((100 * cpu) / seconds).toFixed(1)} % of one core (${cpu.toFixed(2)} s)`,
    rss: `${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MiB`,
  };
}
const placedCount = (n: LanNode) => {
  try {
    return (
      execFileSync('ip', ['-n', n.netns, '-o', '-4', 'addr', 'show', 'dev', IFNAME, 'to', ipOf(0) + '/16'], {
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 64 << 20, // 10,000 addresses with lifetimes are more than the default 1 MiB
      })
        .toString()
        .split('\n')
        .filter(Boolean).length - (KIND === 'local' ? 1 : 0)
    ); // the node's own address in the /16
  } catch {
    return 0; // kube-lb0 not created yet
  }
};
const hasAddress = (n: LanNode, ip: string) =>
  execFileSync('ip', ['-n', n.netns, '-o', 'addr', 'show', 'dev', IFNAME, 'to', `${ip}/32`])
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
  await createServiceGroup(kc.makeApiClient(CustomObjectsApi), install, 'virt', {
    local: {
      v4pool:
        KIND === 'local'
          ? { subnet: LOCAL_SUBNET, pool: LOCAL_SUBNET, aggregation: 'default' }
          : { subnet: '10.96.0.0/12', pool: '10.96.0.0/12', aggregation: '/32' },
    },
  });
  lan = await createLan(1, Number(new URL(kc.getCurrentCluster()!.server).port));
  const n = lan.nodes[0]!;
  if (KIND === 'local') execFileSync('ip', ['-n', n.netns, 'addr', 'add', '10.200.255.254/16', 'dev', 'eth0']);
  const agentArgs = ['--kubeconfig', cluster.kubeconfig, '--namespace', install, '--routing', 'off'];
  // plus the preload that reports the agent's V8 heap on SIGUSR2
  const start = (variant: string) => {
    const words = variant.split(/\s+/).filter(Boolean);
    const env = words.filter((w) => /^[A-Z_]+=/.test(w));
    const nodeArgs = words.filter((w) => w.startsWith('argv:')).map((w) => w.slice('argv:'.length));
    const options = words.filter((w) => !env.includes(w) && !w.startsWith('argv:'));
    const saved = { ...process.env };
    for (const w of env) process.env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
    process.env.NODE_OPTIONS = [...options, `--import=${memoryReportPreload}`].join(' ');
    const agent = lan!.startAgent(n, agentArgs, { nodeArgs, ...(shipped ? { entry: shipped.entry } : {}) });
    process.env = saved; // startAgent spawned at once: the next variant starts from the bench's own
    return agent;
  };
  const agentLog = () => readFileSync(n.logFile, 'utf8');

  // idle: no Service at all, after the first reconcile
  for (const nodeOptions of VARIANTS) {
    const agent = await start(nodeOptions);
    await sleep(10_000);
    if (agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}; log: ${n.logFile}`);
    const idle = await measure(agent.pid!, IDLE_S);
    console.log(`idle, no Services, over ${IDLE_S} s (${program}, NODE_OPTIONS ${nodeOptions}):`);
    console.log(`  CPU ${idle.cpu}, RSS ${idle.rss}; ${await memoryBreakdown(agent.pid!, agentLog)}`);
    await lan.stopAgent(n, 'SIGTERM');
  }

  let t = performance.now();
  // a retried create may find the Service made by the attempt that timed out: then only its ingress is missing
  const create = (name: string, ip: string) =>
    createBrandedService(core, apps, name, [ip], { group: 'virt' }).catch(async (err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
      await patchServiceIngress(core, apps, name, [ip]);
    });
  await pool(COUNT, CONCURRENCY, (i) => create(`s${i}`, ipOf(i + 1)));
  console.log(
    `setup: ${COUNT} branded Services with ingress written in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const eventsApi = kc.makeApiClient(EventsV1Api);
  const eventCount = async () => {
    const page = await eventsApi.listNamespacedEvent({ namespace: apps, limit: 1 });
    return page.items.length + (page.metadata?.remainingItemCount ?? 0);
  };
  for (const [round, nodeOptions] of VARIANTS.entries()) {
    if (round > 0) {
      // the previous agent's addresses go first, so this one places all of them (the node keeps its own)
      execFileSync('ip', ['-n', n.netns, 'addr', 'flush', 'dev', IFNAME, 'to', `${ipOf(0)}/16`]);
      if (KIND === 'local') execFileSync('ip', ['-n', n.netns, 'addr', 'add', '10.200.255.254/16', 'dev', 'eth0']);
    }
    console.log(`with ${COUNT} Services (${program}, NODE_OPTIONS ${nodeOptions}):`);
    t = performance.now();
    const agent = await start(nodeOptions);
    let peak = 0;
    while (placedCount(n) < COUNT) {
      if (agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}; log: ${n.logFile}`);
      peak = Math.max(peak, rssMiB(agent.pid!));
      await sleep(200);
    }
    console.log(
      `startup: agent start -> ${COUNT} ${KIND} addresses on ${IFNAME} in ${((performance.now() - t) / 1000).toFixed(1)} s; RSS ${rssMiB(agent.pid!).toFixed(0)} MiB (peak seen ${peak.toFixed(0)} MiB)`,
    );

    await sleep(3000);
    const extra = ipOf(COUNT + 1 + round);
    t = performance.now();
    await createBrandedService(core, apps, `one-more-${round}`, [extra], { group: 'virt' });
    const written = performance.now();
    while (!hasAddress(n, extra)) {
      if (agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}`);
      await sleep(10);
    }
    console.log(
      `one Service more among ${COUNT}: ingress written -> on ${IFNAME} in ${(performance.now() - written).toFixed(0)} ms (create + status patch took ${(written - t).toFixed(0)} ms)`,
    );

    // let the first reconcile's events (at most 1,000 queued, the rest dropped) drain before measuring
    for (let last = -1, now = await eventCount(); now !== last; last = now, now = await eventCount()) {
      await sleep(5000);
    }
    console.log(
      `events: ${await eventCount()} written by the agent for ${COUNT + 1 + round} Services (the rest dropped beyond the 1,000 backlog)`,
    );
    const steady = await measure(agent.pid!, IDLE_S);
    console.log(
      `steady state with ${COUNT + 1 + round} Services over ${IDLE_S} s: CPU ${steady.cpu}, RSS ${steady.rss}`,
    );
    console.log(`  steady memory: ${await memoryBreakdown(agent.pid!, agentLog)}`);
    if (process.env.PURELB_BENCH_HOLD_S) await sleep(Number(process.env.PURELB_BENCH_HOLD_S) * 1000);
    await lan.stopAgent(n, 'SIGTERM');
  }
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
  shipped?.remove();
}
