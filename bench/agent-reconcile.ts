// Benchmark: reconcile cost with 10,000 virtual addresses, in a network namespace of its own with an
// ifb kube-lb0. Times each step of the agent's reconcile on real kernel state: read (`ip -json addr`),
// decide (all 10,000 Services), plan (diff against the kernel), apply (one `ip -batch`), for
//  1. placing all addresses (desired state -> applied),  2. a no-op reconcile with everything in place,
//  3. one Service added among 10,000,  4. withdrawing all.
// Run: npm run bench:agent (or npx node bench/agent-reconcile.ts [count]); re-executes itself in a netns.
import { ServingGroups } from '../src/model/servicegroups.ts';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseIP } from '../src/api/ip.ts';
import type { ServiceGroup } from '../src/api/types.ts';
import { decideAddresses } from '../src/agent/desired.ts';
import { addressKey } from '../src/agent/interfaces.ts';
import { iproute2 } from '../src/agent/iproute.ts';
import { batchLine, planChanges } from '../src/agent/plan.ts';
import type { ServiceInput } from '../src/model/services.ts';

const COUNT = Number(process.argv[2] ?? 10_000);

if (!process.env.PURELB_BENCH_NETNS) {
  const netns = `plbbench-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', netns]);
  try {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', netns, process.execPath, fileURLToPath(import.meta.url), String(COUNT)],
      { stdio: 'inherit', env: { ...process.env, PURELB_BENCH_NETNS: netns } },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', netns]);
  }
} else {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  await iproute2.ensureLink('kube-lb0', 'ifb');
  const groups: ServiceGroup[] = [
    {
      metadata: { name: 'virt' },
      spec: { local: { v4pool: { subnet: '10.96.0.0/12', pool: '10.96.0.0/12', aggregation: '/32' } } },
    },
  ];
  const ipOf = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const service = (i: number): ServiceInput => ({
    key: `ns/s${i}`,
    addresses: [parseIP(ipOf(i + 1))!],
    etpLocal: false,
    allocatedFrom: ['virt'],
    announcing: {},
    labels: {},
  });
  let services = Array.from({ length: COUNT }, (_, i) => service(i));
  const owned = new Set<string>();

  const reconcile = async (label: string) => {
    const t0 = performance.now();
    const links = await iproute2.readLinks();
    const t1 = performance.now();
    const decisions = decideAddresses({
      node: 'n1',
      links,
      localCandidates: { 4: [], 6: [] },
      owned,
      extlbint: 'kube-lb0',
      services,
      endpoints: new Map(),
      heartbeats: [],
      groups: new ServingGroups().update(groups),
      now: Date.now(),
      labels: {},
    });
    const t2 = performance.now();
    const changes = planChanges(decisions, links, owned);
    const t3 = performance.now();
    const { failed } = await iproute2.applyBatch(changes.map((c) => batchLine(c, { localLifetime: 0 })));
    const t4 = performance.now();
    if (failed.length) throw new Error(`${failed.length} batch lines failed, first: ${failed[0]!.message}`);
    for (const c of changes) {
      if (c.op === 'add') owned.add(addressKey(c.ifname, c.ip, c.prefix));
      else owned.delete(addressKey(c.ifname, c.ip, c.prefix));
    }
    const onLink = (await iproute2.readLinks()).find((l) => l.ifname === 'kube-lb0')!.addrs.length;
    console.log(
      `${label}: ${changes.length} changes, total ${(t4 - t0).toFixed(0)} ms ` +
        `(read ${(t1 - t0).toFixed(0)}, decide ${(t2 - t1).toFixed(0)}, plan ${(t3 - t2).toFixed(0)}, apply ${(t4 - t3).toFixed(0)}); kube-lb0 now has ${onLink} addresses`,
    );
  };

  await reconcile(`place ${COUNT} virtual addresses`);
  await reconcile('no-op reconcile, everything in place');
  await reconcile('no-op reconcile again');
  services = [...services, service(COUNT)];
  await reconcile(`one Service added among ${COUNT}`);
  services = [];
  await reconcile(`withdraw all ${COUNT + 1}`);
}
