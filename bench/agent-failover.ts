// Benchmark: failover of a local address between node agents (3 agents as child processes in 3 network
// namespaces on one bridged LAN, a real apiserver). Per trial the current owner's agent is killed
// (SIGKILL = hard crash, SIGTERM = graceful); measured from the signal until the new owner has the
// address on eth0 AND its gratuitous ARP has reached the LAN (the bridge namespace's neighbour entry
// for the address switches to the new owner's MAC). After a SIGKILL also how long the killed agent's
// node kept the address (until its lifetime ran out: nothing withdrew it). The killed agent is
// restarted between trials. The agents run with the product's defaults (heartbeat timings and LAN
// probes from the agent's option table) unless renew and duration are given.
// Run: npm run bench:agent (or npx node bench/agent-failover.ts [trials] [renew] [duration])
import { GROUP, VERSION } from '../src/api/names.ts';
import { HEARTBEAT_PREFIX } from '../src/model/heartbeat.ts';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { electWinner } from '../src/agent/election.ts';
import { OPTIONS } from '../src/cli/agent.ts';
import { startCluster } from '../src/lab/cluster/cluster.ts';
import { applyCRDs, freshNamespace, waitFor } from '../test/harness/kube.ts';
import { createBrandedService, createLan, LAN_V4, type Lan, type LanNode } from '../test/integration/agent-lan.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const TRIALS = Number(process.argv[2] ?? 20);
const RENEW = process.argv[3] ?? OPTIONS['heartbeat-renew'].default;
const DURATION = process.argv[4] ?? OPTIONS['heartbeat-duration'].default;

const cluster = await startCluster();
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
let lan: Lan | undefined;

const summary = (label: string, ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  console.log(
    `${label}: ${s.length} trials, median ${median.toFixed(0)} ms, min ${s[0]!.toFixed(0)} ms, max ${s.at(-1)!.toFixed(0)} ms`,
  );
};

try {
  await applyCRDs(kc);
  const install = await freshNamespace(kc, 'purelb');
  const apps = await freshNamespace(kc, 'apps');
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: install,
    plural: 'lbnodeagents',
    body: {
      apiVersion: 'purelb.io/v1',
      kind: 'LBNodeAgent',
      metadata: { name: 'default' },
      spec: { local: { sendgarp: true } },
    },
  });
  lan = await createLan(3, Number(new URL(kc.getCurrentCluster()!.server).port));
  const theLan = lan;
  const args = [
    '--kubeconfig',
    cluster.kubeconfig,
    '--namespace',
    install,
    '--routing',
    'off',
    '--heartbeat-renew',
    RENEW,
    '--heartbeat-duration',
    DURATION,
    // SIGTERM here measures the hand-over of a stopping node (no restart grace)
    '--restart-grace=0s',
  ];
  const coordination = kc.makeApiClient(CoordinationV1Api);
  // a Lease renewed after the start (a SIGKILLed agent leaves a stale one behind)
  const start = async (n: LanNode) => {
    const startedAt = Date.now();
    await theLan.startAgent(n, args);
    await waitFor(
      `heartbeat of ${n.name}`,
      async () =>
        (await coordination.listNamespacedLease({ namespace: install })).items.some(
          (l) =>
            l.metadata?.name === HEARTBEAT_PREFIX + n.name &&
            new Date(l.spec?.renewTime as unknown as string).getTime() > startedAt,
        ),
      30_000,
    );
  };
  for (const n of lan.nodes) await start(n);
  const names = lan.nodes.map((n) => n.name);
  const holds = (n: LanNode, ip: string) => theLan.addresses(n, 'eth0').some((a) => a.ip === ip);

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    const times: number[] = [];
    const kept: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const ip = `${LAN_V4}.${signal === 'SIGKILL' ? 100 + trial : 150 + trial}`;
      await createBrandedService(core, apps, `${signal.toLowerCase()}-${trial}`, [ip]);
      const owner = lan.nodes.find((n) => n.name === electWinner(ip, names))!;
      await waitFor(
        `${ip} on ${owner.name} and announced`,
        async () => holds(owner, ip) && theLan.neighbour(ip) === owner.mac,
        15_000,
      );
      const next = lan.nodes.find(
        (n) =>
          n.name ===
          electWinner(
            ip,
            names.filter((x) => x !== owner.name),
          ),
      )!;
      // start the clock at a random point of the renew period, as a real crash would
      await sleep(Math.random() * 1000);
      const t0 = performance.now();
      void theLan.stopAgent(owner, signal);
      for (;;) {
        if (holds(next, ip) && theLan.neighbour(ip) === next.mac) break;
        if (performance.now() - t0 > 20_000)
          throw new Error(`${signal} trial ${trial}: ${next.name} did not take ${ip} over`);
        await sleep(5);
      }
      times.push(performance.now() - t0);
      if (signal === 'SIGKILL') {
        while (holds(owner, ip)) {
          if (performance.now() - t0 > 30_000) throw new Error(`trial ${trial}: ${ip} never expired on ${owner.name}`);
          await sleep(20);
        }
        kept.push(performance.now() - t0);
      }
      await waitFor(
        `${owner.name} agent exited`,
        async () => owner.agent?.exitCode !== null || owner.agent?.signalCode !== null,
      );
      await start(owner);
      // the returning node takes nothing back: the address stays with its current owner
      await sleep(1000);
      if (!holds(next, ip) || holds(owner, ip))
        throw new Error(`${signal} trial ${trial}: ${ip} did not stay on ${next.name} after ${owner.name} returned`);
    }
    summary(
      `failover after ${signal} (renew ${RENEW}, lease ${DURATION}): signal -> new owner has the address and its GARP reached the LAN`,
      times,
    );
    if (kept.length)
      summary("after SIGKILL: signal -> the address expired on the killed agent's node (default lifetime)", kept);
  }
} finally {
  await lan?.destroy();
  await cluster.stop();
}
