// The ToR router of a Topology: FRR with one ECMP route per virtual address (maximum-paths, and
// multipath-relax because nodes may have different ASNs), plus the queries tests and benchmarks use to
// see which nodes are next hops of an address, both in FRR's RIB and in the ToR's kernel (upstream.ts
// reads both).
import { mkdirSync } from 'node:fs';
import { startFrr, type FrrInstance } from '../frr.ts';
import { run } from '../../exec.ts';
import { renderTor, torDaemons, type TorSpec } from '../tor.ts';
import { interfacesOf, kernelRouteTable, vtyshRouteTable } from '../../status/upstream.ts';
import type { Topology } from './topology.ts';

export interface TorOptions {
  protocol: 'bgp' | 'ospf';
  /** ToR AS (BGP). */
  asn?: number;
  /** Seconds; the nodes' configs should use the same timers (OSPF). */
  helloInterval?: number;
  deadInterval?: number;
  /** TCP-MD5 password on every BGP session. */
  password?: string;
  /** iBGP: the nodes use the ToR's AS. */
  internal?: boolean;
}

/** The Topology's ToR: one point-to-point link per node, each node a fixed BGP neighbour. */
export function topologyTorSpec(topo: Topology, opts: TorOptions): TorSpec {
  const base = { hostname: topo.tor, routerId: topo.node(1).torIPv4, v6: true };
  if (opts.protocol === 'ospf') {
    const interfaces = topo.nodes.map((n) => n.torIfname);
    const timers = { hello: opts.helloInterval ?? 1, dead: opts.deadInterval ?? 4 };
    return { ...base, ospf: { interfaces, pointToPoint: true, ...timers, cost: 10 } };
  }
  const peers = {
    4: { neighbors: topo.nodes.map((n) => n.ipv4) },
    6: { neighbors: topo.nodes.map((n) => n.ipv6) },
  };
  const timers = { keepalive: 3, hold: 9, connect: 2 };
  return {
    ...base,
    bgp: {
      asn: opts.asn ?? 65000,
      peers,
      timers,
      ...(opts.password ? { password: opts.password } : {}),
      ...(opts.internal ? { internal: true } : {}),
    },
  };
}

export async function startTor(topo: Topology, opts: TorOptions): Promise<FrrInstance> {
  const spec = topologyTorSpec(topo, opts);
  mkdirSync(topo.torDir, { recursive: true });
  return startFrr(topo.owner(topo.torDir), topo.tor, topo.tor, topo.torDir, torDaemons(spec), {
    config: renderTor(spec),
    bgpListen: true,
  });
}

/** ToR interfaces (to-n<i>) that are installed next hops of prefix in FRR's RIB, sorted. */
export async function ribNextHops(tor: FrrInstance, prefix: string): Promise<string[]> {
  const table = vtyshRouteTable(await tor.vtysh(`show ${prefix.includes(':') ? 'ipv6' : 'ip'} route ${prefix} json`));
  return interfacesOf(table, prefix);
}

/** ToR interfaces that the ToR's kernel uses for prefix, sorted. */
export async function kernelNextHops(topo: Topology, prefix: string): Promise<string[]> {
  const family = prefix.includes(':') ? 6 : 4;
  const json = await run('ip', ['-n', topo.tor, `-${family}`, '-j', 'route', 'show', prefix]);
  return interfacesOf(kernelRouteTable(json, family), prefix);
}

/** Both views at once: FRR's RIB and the kernel must agree. */
export async function torNextHops(
  topo: Topology,
  tor: FrrInstance,
  prefix: string,
): Promise<{ rib: string[]; kernel: string[] }> {
  return { rib: await ribNextHops(tor, prefix), kernel: await kernelNextHops(topo, prefix) };
}
