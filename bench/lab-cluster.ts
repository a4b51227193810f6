// Numbers of the real-cluster lab (needs root; docs/lab.md and BENCHMARKS.md quote them):
//   up          `lab up` wall time (run it twice for cold and warm: the first builds the images)
//   memory      RSS per node of kubelet, containerd, kube-proxy, the agent and the routing daemon
//   images      sizes of the images the lab built from the shipped Dockerfiles
//   reachable   Service created -> first answer from a real pod at the client, over N Services
// Usage: npx node bench/lab-cluster.ts [--daemon bird|frr|gobgp] [--services 50] [--keep]
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ANN } from '../src/api/annotations.ts';
import { applyObjects } from '../src/lab/apply.ts';
import { pidOf } from '../src/lab/components.ts';
import { inNetns } from '../src/exec.ts';
import { downLab, upLab, type Lab } from '../src/lab/lab.ts';
import { procDir } from '../src/lab/ledger.ts';
import { DEFAULT_OPTIONS, type Daemon } from '../src/lab/plan.ts';
import { labImages } from '../src/lab/real-cluster.ts';
import { realServiceObject, VIRTUAL_GROUP } from '../src/lab/samples.ts';
import { urlFor } from '../src/lab/spread.ts';
import { containerPid } from '../e2e/cluster/harness.ts';
import { addressesOf } from '../e2e/harness.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const { values } = parseArgs({
  options: {
    daemon: { type: 'string', default: 'bird' },
    services: { type: 'string', default: '50' },
    keep: { type: 'boolean', default: false },
  },
});
const daemon = values.daemon as Daemon;
const N = Number(values.services);

function stats(samples: number[]): { n: number; median: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { n: s.length, median: Math.round(at(0.5)), p99: Math.round(at(0.99)), max: Math.round(s[s.length - 1]!) };
}

const rssMiB = (pid: number | undefined) => {
  if (!pid) return '-';
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? (Number(m[1]) / 1024).toFixed(0) : '-';
};

async function memory(lab: Lab): Promise<string[]> {
  const rows: string[] = [];
  const daemonContainer = { bird: 'bird', frr: 'frr', gobgp: 'gobgpd' }[daemon];
  for (const n of lab.plan.nodes) {
    const proc = (p: string) => pidOf(lab.plan.options.name, `${n.name}-${p}`);
    // FRR's sidecar container runs a shell that starts the daemons: count bgpd/zebra/... by their own pids
    const agent = await containerPid(lab, n.name, 'lbnodeagent').catch(() => undefined);
    const routing = await containerPid(lab, n.name, daemonContainer).catch(() => undefined);
    rows.push(
      `| ${n.name} | ${rssMiB(proc('kubelet'))} | ${rssMiB(proc('containerd'))} | ${rssMiB(proc('kube-proxy'))} | ${rssMiB(agent)} | ${routingRss(routing)} |`,
    );
  }
  return rows;
}

/** RSS of a container's main process and all its descendants (FRR: watchfrr, zebra, bgpd, ...). */
function routingRss(pid: number | undefined): string {
  if (!pid) return '-';
  const children = (p: number): number[] => {
    let kids: number[];
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
    return kids.flatMap((k) => [k, ...children(k)]);
  };
  const all = [pid, ...children(pid)];
  const kb = all.reduce((sum, p) => {
    try {
      return sum + Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return sum;
    }
  }, 0);
  return (kb / 1024).toFixed(0);
}

async function reachable(lab: Lab): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const name = `bench-${i}`;
    const t0 = performance.now();
    const svc = realServiceObject({
      name,
      group: VIRTUAL_GROUP,
      etp: 'Cluster',
      families: ['IPv4'],
      port: 80,
      endpointNodes: lab.plan.nodes.map((_, j) => j),
    });
    (svc.metadata as { annotations: Record<string, string> }).annotations[ANN.serviceGroup] = VIRTUAL_GROUP;
    await applyObjects(lab.kc, [svc]);
    const [ip] = await addressesOf(lab, name, 1);
    for (;;) {
      const answer = await inNetns(lab.plan.clientNetns, 'curl', ['-s', '-m', '1', urlFor(ip!, 80)]).catch(() => '');
      if (answer.includes('pod=')) break;
      if (performance.now() - t0 > 60_000) throw new Error(`${name} ${ip} not reachable after 60 s`);
      await sleep(20);
    }
    out.push(performance.now() - t0);
  }
  return out;
}

const name = `b${randomBytes(2).toString('hex')}`;
const log = (m: string) => process.stderr.write(`[${name}] ${m}\n`);
const t0 = performance.now();
const lab = await upLab({ ...DEFAULT_OPTIONS, name, daemon, protocol: 'bgp', samples: true }, log);
const upMs = performance.now() - t0;
try {
  console.log(`\n## Real-cluster lab, ${daemon} overlay (${lab.plan.nodes.length} nodes)\n`);
  console.log(`lab up: ${(upMs / 1000).toFixed(0)} s (including the image check; logs ${procDir(name)})\n`);
  console.log('| node | kubelet MiB | containerd MiB | kube-proxy MiB | agent MiB | routing daemon MiB |');
  console.log('|---|---|---|---|---|---|');
  for (const row of await memory(lab)) console.log(row);
  const images = await labImages(() => {});
  console.log('\n| image | size MB |\n|---|---|');
  for (const e of images.entries) console.log(`| ${e.ref} | ${e.sizeBytes ? (e.sizeBytes / 1e6).toFixed(0) : '?'} |`);
  const r = stats(await reachable(lab));
  console.log(
    `\nService created -> answered by a pod at the client, ${r.n} Services: median ${r.median} ms, p99 ${r.p99} ms, max ${r.max} ms`,
  );
} finally {
  if (!values.keep) await downLab(name, log);
}
