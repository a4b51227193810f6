// End-to-end measurements on the lab (needs root), one lab per backend on one shared apiserver:
//   convergence   Service created -> the ToR's kernel FIB has the address with every node as next hop
//   endpoint move ETP Local endpoints moved to another node -> the ToR's next-hop set is that node
//   daemon kill   a node's routing daemon SIGKILLed -> its next hop is gone from the ToR (and restart -> back)
//   daemon freeze the daemon SIGSTOPped (hangs without closing its sockets) -> next hop gone; with and without BFD
//   agent kill    the agent owning a local address SIGKILLed -> a request from the client is answered by another node
// Usage: npx node bench/e2e.ts [--backends bird-bgp,frr-bgp,gobgp-bgp,bird-ospf,frr-ospf] [--services 50] [--trials 10] [--bfd]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ANN } from '../src/api/annotations.ts';
import { applyObjects } from '../src/lab/apply.ts';
import { pidOf, restartRoutingDaemon, routingDaemonProcesses, startAgent } from '../src/lab/components.ts';
import { inNetns, run } from '../src/exec.ts';
import { startSharedCluster, nodeByIP, type Lab } from '../src/lab/lab.ts';
import { cleanLedger, labDir } from '../src/lab/ledger.ts';
import type { Daemon, Protocol } from '../src/lab/plan.ts';
import { LOCAL_GROUP, serviceObject, endpointSlices, type SampleService } from '../src/lab/samples.ts';
import { parseKernelRoutes } from '../src/status/upstream.ts';
import { join } from 'node:path';
import {
  allNodes,
  announcing,
  applyService,
  deleteService,
  nodeNames,
  nodesHolding,
  readService,
  setEndpoints,
  signalProcess,
  startBackendLab,
  stopBackendLab,
  waitExited,
  waitFor,
} from '../e2e/harness.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'bird-bgp,frr-bgp,gobgp-bgp,bird-ospf,frr-ospf' },
    services: { type: 'string', default: '50' },
    trials: { type: 'string', default: '10' },
    bfd: { type: 'boolean', default: false },
  },
});
const SERVICES = Number(values.services);
const TRIALS = Number(values.trials);

/** Polls `probe` every 10 ms; resolves with the elapsed ms since `t0` when it holds. */
async function timeUntil(t0: number, what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  for (;;) {
    if (await probe()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

/** The ToR's kernel FIB next hops of one address, as node names (what really forwards). */
async function fibHops(lab: Lab, names: Record<string, string>, address: string): Promise<string[]> {
  const v6 = address.includes(':');
  const out = await run('ip', ['-n', lab.plan.torNetns, v6 ? '-6' : '-4', '-j', 'route', 'show', address]);
  const routes = parseKernelRoutes(out || '[]', v6 ? 6 : 4);
  return (routes[`${address}/${v6 ? 128 : 32}`] ?? []).map((ip) => names[ip] ?? ip).sort();
}

const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify([...b].sort());

function stats(samples: number[]): { n: number; median: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { n: s.length, median: Math.round(at(0.5)), p99: Math.round(at(0.99)), max: Math.round(s[s.length - 1]!) };
}

const results: { backend: string; metric: string; n: number; median: number; p99: number; max: number }[] = [];
function report(backend: string, metric: string, samples: number[]): void {
  const r = { backend, metric, ...stats(samples) };
  results.push(r);
  console.error(`${backend}  ${metric}: n=${r.n} median ${r.median} ms, p99 ${r.p99} ms, max ${r.max} ms`);
}

async function convergence(lab: Lab, backend: string, names: Record<string, string>): Promise<void> {
  const samples: number[] = [];
  const created: SampleService[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const address = `10.200.0.${100 + i}`;
    const s: SampleService = {
      name: `bench-${i}`,
      group: 'virtual',
      etp: 'Cluster',
      families: ['IPv4'],
      port: 80,
      endpointNodes: [0, 1, 2],
    };
    const svc = serviceObject(s);
    (svc.metadata!.annotations as Record<string, string>)[ANN.addresses] = address;
    const t0 = performance.now();
    await applyObjects(lab.kc, [svc, ...endpointSlices(lab.plan, s)]);
    samples.push(
      await timeUntil(t0, `${address} at the ToR`, async () => same(await fibHops(lab, names, address), allNodes(lab))),
    );
    created.push(s);
  }
  report(backend, `convergence: Service created -> ToR FIB has all ${lab.plan.nodes.length} next hops`, samples);
  for (const s of created) await deleteService(lab, s);
}

async function endpointMoves(lab: Lab, backend: string, names: Record<string, string>): Promise<void> {
  const s: SampleService = {
    name: 'bench-move',
    group: 'virtual',
    etp: 'Local',
    families: ['IPv4'],
    port: 80,
    endpointNodes: [0],
  };
  await applyService(lab, s);
  const address = await waitFor(
    'bench-move address',
    async () => (await readService(lab, s.name)).status?.loadBalancer?.ingress?.[0]?.ip,
  );
  await timeUntil(performance.now(), 'initial endpoint node', async () =>
    same(await fibHops(lab, names, address), nodeNames(lab, [0])),
  );
  const samples: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const to = i % 2 === 0 ? 2 : 0;
    const t0 = performance.now();
    await setEndpoints(lab, s, [to]);
    samples.push(
      await timeUntil(t0, 'next hop follows the endpoint', async () =>
        same(await fibHops(lab, names, address), nodeNames(lab, [to])),
      ),
    );
  }
  report(backend, 'endpoint move (ETP Local) -> ToR next-hop set updated', samples);
  await deleteService(lab, s);
}

async function bfdUp(lab: Lab, peer: string): Promise<boolean> {
  const out = await inNetns(lab.plan.torNetns, 'vtysh', ['--vty_socket', lab.torVtyDir, '-c', 'show bfd peers json']);
  return (JSON.parse(out) as { peer?: string; status?: string }[]).some((p) => p.peer === peer && p.status === 'up');
}

/** Every FRR process of the node for a freeze (BFD runs in bfdd, so freezing only bgpd proves nothing). */
function freezeTargets(lab: Lab, node: Lab['plan']['nodes'][number]): string[] {
  if (lab.plan.options.daemon !== 'frr') return routingDaemonProcesses(lab.plan, node);
  return [
    'zebra',
    ...(lab.plan.options.protocol === 'bgp'
      ? ['bgpd', ...(lab.plan.options.bfd ? ['bfdd'] : [])]
      : ['ospfd', 'ospf6d']),
  ].map((d) => `${node.name}-${d}`);
}

async function daemonFailures(
  lab: Lab,
  backend: string,
  names: Record<string, string>,
  freeze: boolean,
): Promise<void> {
  const s: SampleService = {
    name: 'bench-kill',
    group: 'virtual',
    etp: 'Cluster',
    families: ['IPv4'],
    port: 80,
    endpointNodes: [0, 1, 2],
  };
  await applyService(lab, s);
  const address = await waitFor(
    'bench-kill address',
    async () => (await readService(lab, s.name)).status?.loadBalancer?.ingress?.[0]?.ip,
  );
  const victim = lab.plan.nodes[2]!;
  const down: number[] = [];
  const back: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    await timeUntil(
      performance.now(),
      'all next hops',
      async () => same(await fibHops(lab, names, address), allNodes(lab)),
      90_000,
    );
    // BFD comes up a moment after the BGP session; measuring before that would time the hold timer
    if (lab.plan.options.bfd) await timeUntil(performance.now(), 'BFD up', () => bfdUp(lab, victim.ipv4), 30_000);
    const t0 = performance.now();
    if (freeze) {
      for (const p of freezeTargets(lab, victim)) signalProcess(lab, p, 'SIGSTOP');
    } else {
      for (const p of routingDaemonProcesses(lab.plan, victim)) await waitExited(signalProcess(lab, p, 'SIGKILL'));
    }
    down.push(
      await timeUntil(t0, 'next hop withdrawn', async () =>
        same(await fibHops(lab, names, address), nodeNames(lab, [0, 1])),
      ),
    );
    const t1 = performance.now();
    if (freeze) for (const p of freezeTargets(lab, victim)) signalProcess(lab, p, 'SIGCONT');
    else await restartRoutingDaemon(lab.plan, victim);
    back.push(
      await timeUntil(
        t1,
        'next hop restored',
        async () => same(await fibHops(lab, names, address), allNodes(lab)),
        90_000,
      ),
    );
  }
  const what = freeze ? 'daemon SIGSTOP (hung)' : 'daemon SIGKILL';
  const bfd = lab.plan.options.bfd ? ' with BFD' : '';
  report(backend, `${what}${bfd} -> ToR next hop withdrawn`, down);
  report(backend, `${what}${bfd}: ${freeze ? 'SIGCONT' : 'restart'} -> next hop back`, back);
  await deleteService(lab, s);
}

async function agentKills(lab: Lab, backend: string): Promise<void> {
  const s: SampleService = {
    name: 'bench-local',
    group: LOCAL_GROUP,
    etp: 'Cluster',
    families: ['IPv4'],
    port: 80,
    endpointNodes: [0, 1, 2],
  };
  await applyService(lab, s);
  const address = await waitFor(
    'bench-local address',
    async () => (await readService(lab, s.name)).status?.loadBalancer?.ingress?.[0]?.ip,
  );
  const agentKc = join(labDir(lab.plan.options.name), 'kubeconfig-lbnodeagent');
  const samples: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const owner = await waitFor(
      'a single owner',
      async () => {
        const holders = await nodesHolding(lab, address);
        const a = announcing(await readService(lab, s.name), 4);
        return holders.length === 1 && holders[0] === a && pidOf(lab.plan.options.name, `${a}-agent`) ? a : undefined;
      },
      30_000,
    );
    const t0 = performance.now();
    await waitExited(signalProcess(lab, `${owner}-agent`, 'SIGKILL'));
    samples.push(
      await timeUntil(t0, 'another node answers', async () => {
        const answer = await inNetns(lab.plan.clientNetns, 'curl', ['-s', '-m', '0.3', `http://${address}/`]).catch(
          () => '',
        );
        return answer.trim() !== '' && answer.trim() !== owner;
      }),
    );
    startAgent(
      lab.plan,
      lab.plan.nodes.find((n) => n.name === owner)!,
      agentKc,
      lab.namespace,
    );
    await sleep(3000);
  }
  report(backend, 'agent SIGKILL -> local address answered by another node', samples);
  await deleteService(lab, s);
}

async function main(): Promise<void> {
  const name = `b${randomBytes(2).toString('hex')}`;
  process.env.PURELB_E2E_SHARED_NAME = name;
  process.env.PURELB_E2E_SHARED = JSON.stringify(await startSharedCluster(name));
  try {
    let tag = 0;
    for (const backend of values.backends.split(',')) {
      const [daemon, protocol] = backend.split('-') as [Daemon, Protocol];
      const label = `${backend}${values.bfd ? '+bfd' : ''}`;
      console.error(`--- ${label}`);
      const lab = await startBackendLab(daemon, protocol, String(++tag), { bfd: values.bfd });
      try {
        const names = await nodeByIP(lab.plan);
        if (!values.bfd) {
          await convergence(lab, label, names);
          await endpointMoves(lab, label, names);
        }
        await daemonFailures(lab, label, names, false);
        if (protocol === 'bgp') await daemonFailures(lab, label, names, true);
        if (backend === 'bird-bgp' && !values.bfd) await agentKills(lab, label);
      } finally {
        await stopBackendLab(lab);
      }
    }
  } finally {
    await cleanLedger(name);
  }
  console.log('| backend | measurement | n | median ms | p99 ms | max ms |\n|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.backend} | ${r.metric} | ${r.n} | ${r.median} | ${r.p99} | ${r.max} |`);
}

await main();
