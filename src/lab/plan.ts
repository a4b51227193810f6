// The lab's options and its address plan, as pure data: which namespace, link and address every part
// of the one-machine lab gets. Everything the lab creates is named from `name`, so two labs (or a lab
// and a test run) never collide and `down` can remove exactly what `up` made.
import { formatIP, networkOf, parseCIDR, type CIDR, type Family } from '../api/ip.ts';

export type Daemon = 'bird' | 'frr' | 'gobgp';
export type Protocol = 'bgp' | 'ospf';

export interface LabOptions {
  /** Prefix of every namespace, link and directory of this lab (letters/digits, <= 6 chars). */
  name: string;
  nodes: number;
  /** The LAN of the nodes and the ToR: one IPv4 CIDR and optionally one IPv6 CIDR. */
  lan: { v4: string; v6?: string };
  daemon: Daemon;
  protocol: Protocol;
  nodeASN: number;
  torASN: number;
  samples: boolean;
  /** BFD between nodes and ToR (BGP only). */
  bfd: boolean;
  /** The fast development mode: the product's components as plain processes on a bare apiserver, no
   * kubelet (the default is a real Kubernetes with the product installed from its images). */
  processes?: boolean;
  /** Real cluster only: false brings up the cluster, the network and the ToR without installing the product
   * (e2e/cluster/helm.test.ts installs it with the Helm chart). */
  install?: boolean;
}

export const DEFAULT_OPTIONS: LabOptions = {
  name: 'plab',
  nodes: 3,
  lan: { v4: '192.168.100.0/24', v6: 'fd00:100::/64' },
  daemon: 'bird',
  protocol: 'bgp',
  nodeASN: 64512,
  torASN: 64500,
  samples: true,
  bfd: false,
};

/** Virtual pools are routed via the ToR, so they live outside the LAN; inside namespaces only. */
export const VIRTUAL_POOLS = { v4: '10.200.0.0/24', v6: 'fd00:200::/120' } as const;
/** The client namespace's link to the ToR (namespaced, never on the host). */
export const CLIENT_NET = { v4: '198.51.100.0/30', v6: 'fd00:c1::/64' } as const;
/** Size of the local pool carved from the top of the LAN. */
export const LOCAL_POOL_SIZE = 8;

export interface NodePlan {
  name: string;
  /** network namespace */
  netns: string;
  /** veth end in the ToR namespace (a port of the LAN bridge) */
  torPort: string;
  ipv4: string;
  ipv6?: string;
  /** management address (host bridge subnet) */
  mgmt: string;
}

export interface LabPlan {
  options: LabOptions;
  torNetns: string;
  clientNetns: string;
  /** bridge in the ToR namespace joining the nodes' eth0 */
  lanBridge: string;
  /** the LAN's networks as CIDR text (host bits cleared) and their prefix lengths */
  lan: { v4: string; v6?: string };
  lanPrefix: { v4: number; v6?: number };
  tor: { ipv4: string; ipv6?: string; clientIPv4: string; clientIPv6: string; clientPort: string };
  client: { ipv4: string; ipv6: string };
  nodes: NodePlan[];
  /** IPv4 pool on the LAN ("from-to") and, if the LAN has IPv6, the IPv6 one. */
  localPools: { v4: string; v6?: string };
  mgmt: ManagementPlan;
  /** host-side veth names of the management links, one per node */
  mgmtPorts: string[];
}

const NAME = /^[a-z][a-z0-9]{0,5}$/;

function offset(c: CIDR, n: bigint): string {
  const { first, last } = networkOf(c);
  const v = n >= 0n ? first + n : last + n;
  if (v < first || v > last) throw new Error(`--lan ${fmt(c)} is too small for the lab`);
  return formatIP({ family: c.ip.family, value: v });
}

const fmt = (c: CIDR) => `${formatIP(c.ip)}/${c.prefix}`;

function lanCIDR(text: string, family: Family): CIDR {
  const c = parseCIDR(text);
  if (!c || c.ip.family !== family)
    throw new Error(
      `--lan: "${text}" is not an IPv${family} CIDR (e.g. ${DEFAULT_OPTIONS.lan[family === 4 ? 'v4' : 'v6']})`,
    );
  return { ip: { family, value: networkOf(c).first }, prefix: c.prefix };
}

export interface ManagementPlan {
  bridge: string;
  subnet: string;
  /** the apiserver's address on the bridge */
  host: string;
  prefix: number;
}

export function planManagement(name: string, subnet: string): ManagementPlan {
  const mg = parseCIDR(subnet);
  if (!mg || mg.ip.family !== 4 || mg.prefix > 27)
    throw new Error(`management subnet ${subnet}: need an IPv4 /27 or larger`);
  return {
    bridge: `${name}-mgmt`,
    subnet: fmt({ ip: { family: 4, value: networkOf(mg).first }, prefix: mg.prefix }),
    host: offset(mg, 1n),
    prefix: mg.prefix,
  };
}

/** Checks the options and derives every name and address; throws with the option to fix. */
export function planLab(options: LabOptions, mgmtSubnet: string): LabPlan {
  const o = options;
  if (!NAME.test(o.name))
    throw new Error(
      `--name "${o.name}": use 1-6 lower-case letters/digits starting with a letter (it prefixes interface names, max 15 chars)`,
    );
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 16) throw new Error(`--nodes ${o.nodes}: use 1..16`);
  for (const [flag, asn] of [
    ['--node-asn', o.nodeASN],
    ['--tor-asn', o.torASN],
  ] as const) {
    if (!Number.isInteger(asn) || asn < 1 || asn > 4294967294) throw new Error(`${flag} ${asn}: use 1..4294967294`);
  }
  if (o.daemon === 'gobgp' && o.protocol === 'ospf')
    throw new Error('--daemon gobgp --protocol ospf: GoBGP has no OSPF; use bird or frr for OSPF');
  const v4 = lanCIDR(o.lan.v4, 4);
  const v6 = o.lan.v6 ? lanCIDR(o.lan.v6, 6) : undefined;
  const hostsV4 = (1n << BigInt(32 - v4.prefix)) - 2n;
  if (hostsV4 < BigInt(o.nodes + 2 + LOCAL_POOL_SIZE)) {
    throw new Error(
      `--lan ${o.lan.v4}: too small for ${o.nodes} nodes, the ToR and a local pool of ${LOCAL_POOL_SIZE}; use a /27 or larger`,
    );
  }
  const mgmt = planManagement(o.name, mgmtSubnet);
  const mg = parseCIDR(mgmt.subnet)!;
  const client = { v4: parseCIDR(CLIENT_NET.v4)!, v6: parseCIDR(CLIENT_NET.v6)! };
  const p = o.name;
  const nodes: NodePlan[] = Array.from({ length: o.nodes }, (_, i) => ({
    name: `${p}-node${i + 1}`,
    netns: `${p}-node${i + 1}`,
    torPort: `${p}-l${i + 1}`,
    ipv4: offset(v4, BigInt(i + 2)),
    ...(v6 ? { ipv6: offset(v6, BigInt(i + 2)) } : {}),
    mgmt: offset(mg, BigInt(i + 2)),
  }));
  // IPv4: the top of the LAN below the broadcast address; IPv6: ::f0 upwards, short enough to read
  const pool = (c: CIDR) =>
    c.ip.family === 4
      ? `${offset(c, -BigInt(LOCAL_POOL_SIZE))}-${offset(c, -1n)}`
      : `${offset(c, 0xf0n)}-${offset(c, 0xf0n + BigInt(LOCAL_POOL_SIZE - 1))}`;
  return {
    options: o,
    torNetns: `${p}-tor`,
    clientNetns: `${p}-client`,
    lanBridge: 'lan0',
    lan: v6 ? { v4: fmt(v4), v6: fmt(v6) } : { v4: fmt(v4) },
    lanPrefix: v6 ? { v4: v4.prefix, v6: v6.prefix } : { v4: v4.prefix },
    tor: {
      ipv4: offset(v4, 1n),
      ...(v6 ? { ipv6: offset(v6, 1n) } : {}),
      clientIPv4: offset(client.v4, 1n),
      clientIPv6: offset(client.v6, 1n),
      clientPort: `${p}-cl`,
    },
    client: { ipv4: offset(client.v4, 2n), ipv6: offset(client.v6, 2n) },
    nodes,
    localPools: { v4: pool(v4), ...(v6 ? { v6: pool(v6) } : {}) },
    mgmt,
    mgmtPorts: nodes.map((_, i) => `${p}-m${i + 1}`),
  };
}

/** Picks a management /24 in 10.254.0.0/16 that overlaps no route of the host. */
export function pickManagementSubnet(hostRoutes: string[], seed: number): string {
  const taken = hostRoutes
    .map((r) => parseCIDR(r.includes('/') ? r : `${r}/${r.includes(':') ? 128 : 32}`))
    .filter((c): c is CIDR => c !== undefined && c.ip.family === 4);
  for (let i = 0; i < 256; i++) {
    const third = (seed + i) % 256;
    const cand = parseCIDR(`10.254.${third}.0/24`)!;
    const n = networkOf(cand);
    const clash = taken.some((t) => {
      const m = networkOf(t);
      return m.first <= n.last && n.first <= m.last && t.prefix > 0;
    });
    if (!clash) return `10.254.${third}.0/24`;
  }
  throw new Error('no free /24 in 10.254.0.0/16 for the lab management network (every one overlaps a host route)');
}
