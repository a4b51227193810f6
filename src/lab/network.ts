// The lab's namespaces and links: nodes on one LAN segment (a bridge inside the ToR namespace), the
// ToR routing between that LAN and a client namespace. Every name comes from the plan and is written
// to the ledger before it exists.
import { ipBatch, run } from '../exec.ts';
import { record, type Ledger } from './ledger.ts';
import type { LabPlan } from './plan.ts';

async function addNetns(ledger: Ledger, name: string, sysctls: string[]): Promise<void> {
  record(ledger, 'netns', name);
  await run('ip', ['netns', 'add', name]);
  await ipBatch(['link set lo up'], name);
  // IPv6 DAD would delay every address on the fresh veths by seconds
  await run('ip', [
    'netns',
    'exec',
    name,
    'sysctl',
    '-qw',
    'net.ipv6.conf.all.accept_dad=0',
    'net.ipv6.conf.default.accept_dad=0',
    ...sysctls,
  ]);
}

const v6 = (addr: string | undefined, prefix: number | undefined, dev: string) =>
  addr && prefix !== undefined ? [`addr add ${addr}/${prefix} dev ${dev} nodad`] : [];

export async function createNetwork(ledger: Ledger, plan: LabPlan): Promise<void> {
  const { torNetns: tor, clientNetns: client, lanBridge } = plan;
  const v4len = plan.lanPrefix.v4;
  const v6len = plan.lanPrefix.v6;
  await addNetns(ledger, tor, [
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
    // hash on ports too, so requests from one client spread over every ECMP next hop
    'net.ipv4.fib_multipath_hash_policy=1',
    'net.ipv6.fib_multipath_hash_policy=1',
  ]);
  await addNetns(ledger, client, []);
  for (const n of plan.nodes) await addNetns(ledger, n.netns, []);

  await ipBatch(
    [
      `link add ${lanBridge} type bridge`,
      `addr add ${plan.tor.ipv4}/${v4len} dev ${lanBridge}`,
      ...v6(plan.tor.ipv6, v6len, lanBridge),
      `link set ${lanBridge} up`,
    ],
    tor,
  );
  for (const n of plan.nodes) {
    await run('ip', ['-n', tor, 'link', 'add', n.torPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
    await ipBatch([`link set ${n.torPort} master ${lanBridge} up`], tor);
    await ipBatch(
      [
        `addr add ${n.ipv4}/${v4len} dev eth0`,
        ...v6(n.ipv6, v6len, 'eth0'),
        'link set eth0 up',
        `route add default via ${plan.tor.ipv4} dev eth0`,
        ...(plan.tor.ipv6 ? [`route add default via ${plan.tor.ipv6} dev eth0`] : []),
      ],
      n.netns,
    );
  }
  const cl = plan.tor.clientPort;
  await run('ip', ['-n', tor, 'link', 'add', cl, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
  await ipBatch(
    [`addr add ${plan.tor.clientIPv4}/30 dev ${cl}`, ...v6(plan.tor.clientIPv6, 64, cl), `link set ${cl} up`],
    tor,
  );
  await ipBatch(
    [
      `addr add ${plan.client.ipv4}/30 dev eth0`,
      ...v6(plan.client.ipv6, 64, 'eth0'),
      'link set eth0 up',
      `route add default via ${plan.tor.clientIPv4} dev eth0`,
      `route add default via ${plan.tor.clientIPv6} dev eth0`,
    ],
    client,
  );
}

/** Each node's eth0 link-local address: IPv6 BGP/OSPF next hops at the ToR are often link-local. */
export async function linkLocals(plan: LabPlan): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of plan.nodes) {
    const addrs = JSON.parse(
      await run('ip', ['-n', n.netns, '-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']),
    ) as { addr_info?: { local?: string }[] }[];
    const ll = addrs[0]?.addr_info?.find((a) => a.local)?.local;
    if (ll) out[ll] = n.name;
  }
  return out;
}
