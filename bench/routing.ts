// Routing benchmarks on real daemons in network namespaces (one node behind an FRR ToR, BGP):
//  1. latency from an address appearing on kube-lb0 (BIRD, FRR) or being handed to the GoBGP backend
//     to the route being in the ToR's kernel FIB: median and p99 over 100 addresses (`ip monitor route`
//     in the ToR timestamps the FIB change, so there is no polling error);
//  2. time to apply a RouterConfig change (a peer's hold time): BIRD/FRR render + check + load until
//     the daemon acknowledged it, GoBGP DeletePeer + AddPeer; median over 10;
//  3. routes/s when 5,000 addresses arrive at once (until all 5,000 are in the ToR's FIB).
// Run: npm run bench:routing [-- --daemons bird,frr,gobgp --count 100 --bulk 5000]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseRouterConfig, type Daemon } from '../src/api/validate-routerconfig.ts';
import { createLogger } from '../src/log.ts';
import { createAdvertiser } from '../src/routing/controller.ts';
import { nodeBackendPaths, startNodeDaemon } from '../src/lab/topology/nodes.ts';
import { createTopology, randomPrefix, type Topology } from '../src/lab/topology/topology.ts';
import { startTor } from '../src/lab/topology/tor.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const { values } = parseArgs({
  options: {
    daemons: { type: 'string', default: 'bird,frr,gobgp' },
    count: { type: 'string', default: '100' },
    bulk: { type: 'string', default: '5000' },
  },
});
const daemons = values.daemons.split(',') as Daemon[];
const COUNT = Number(values.count);
const BULK = Number(values.bulk);
const log = createLogger('bench', {}, () => undefined);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

/** Resolves waiters when `ip monitor route` in the ToR reports a prefix added. */
function fibMonitor(topo: Topology) {
  const child = spawn('ip', ['-n', topo.tor, '-4', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const waiters = new Map<string, (t: number) => void>();
  let added = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('Deleted') || !line.includes('proto bgp')) return;
    added++;
    const dst = line.split(' ')[0]!;
    waiters.get(dst)?.(performance.now());
    waiters.delete(dst);
  });
  return {
    next: (ip: string) => new Promise<number>((r) => waiters.set(ip, r)),
    added: () => added,
    stop: () => child.kill(),
  };
}

async function bench(daemon: Daemon): Promise<Record<string, string>> {
  const topo = await createTopology({
    prefix: randomPrefix('bn'),
    nodes: 1,
    dir: join(tmpdir(), `purelb-bench-${process.pid}-${daemon}`),
  });
  const monitor = fibMonitor(topo);
  const ad = createAdvertiser(daemon, nodeBackendPaths(topo.node(1)), log);
  try {
    const n = topo.node(1);
    await startTor(topo, { protocol: 'bgp' });
    await startNodeDaemon(topo, n, daemon);
    const spec = (hold: number) =>
      parseRouterConfig({
        spec: {
          daemon,
          protocol: 'bgp',
          bgp: { localASN: 65101, peers: [{ address: n.torIPv4, asn: 65000, holdTime: hold }] },
        },
      }).config!;
    const input = (hold: number) => ({
      config: spec(hold),
      nodeName: 'n1',
      nodeIP: n.ipv4,
      kubeInterface: 'kube-lb0',
      passwords: {},
    });
    if ((await ad.apply(input(9))).result !== 'Applied') throw new Error(`${daemon}: config not applied`);
    const addrs: string[] = [];
    // session up: wait until a probe address reaches the FIB
    const probe = monitor.next('10.97.255.1');
    if (daemon === 'gobgp') await ad.setAddresses(['10.97.255.1/32']);
    else await topo.addAddress(1, '10.97.255.1/32');
    addrs.push('10.97.255.1/32');
    await Promise.race([
      probe,
      sleep(60_000).then(() => {
        throw new Error(`${daemon}: session did not come up`);
      }),
    ]);

    const latencies: number[] = [];
    for (let i = 0; i < COUNT; i++) {
      const ip = `10.97.0.${i + 1}`;
      const seen = monitor.next(ip);
      const t0 = performance.now();
      if (daemon === 'gobgp') {
        addrs.push(`${ip}/32`);
        await ad.setAddresses(addrs);
      } else {
        await topo.addAddress(1, `${ip}/32`);
      }
      latencies.push((await seen) - t0);
    }

    const before = monitor.added();
    const bulk = Array.from({ length: BULK }, (_, i) => `10.98.${Math.floor(i / 250)}.${(i % 250) + 1}/32`);
    const t0 = performance.now();
    if (daemon === 'gobgp') await ad.setAddresses([...addrs, ...bulk]);
    else
      await runBatch(
        n.netns,
        bulk.map((c) => `address add ${c} dev kube-lb0`),
      );
    while (monitor.added() - before < BULK) {
      if (performance.now() - t0 > 300_000)
        throw new Error(`${daemon}: only ${monitor.added() - before} of ${BULK} routes after 300 s`);
      await sleep(20);
    }
    const bulkSeconds = (performance.now() - t0) / 1000;

    // config changes last: they may restart sessions (GoBGP re-adds a changed peer)
    const reloads: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const r = await ad.apply(input(i % 2 === 0 ? 12 : 9));
      if (r.result !== 'Applied') throw new Error(`${daemon}: reload ${r.result} ${r.error}`);
      reloads.push(performance.now() - t0);
    }

    return {
      daemon,
      'add->FIB median ms': quantile(latencies, 0.5).toFixed(1),
      'add->FIB p99 ms': quantile(latencies, 0.99).toFixed(1),
      'config change median ms': quantile(reloads, 0.5).toFixed(0),
      [`${BULK} routes: s`]: bulkSeconds.toFixed(2),
      'routes/s': (BULK / bulkSeconds).toFixed(0),
    };
  } finally {
    monitor.stop();
    await ad.close();
    await topo.destroy();
  }
}

function runBatch(netns: string, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['-n', netns, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ip -batch: ${err}`))));
    child.stdin.end(lines.join('\n') + '\n');
  });
}

const rows = [];
for (const d of daemons) {
  console.error(`benchmarking ${d} ...`);
  rows.push(await bench(d));
}
console.table(rows);
console.log(JSON.stringify(rows));
