// The ToR router of a Topology: FRR with one ECMP route per virtual address (maximum-paths, and
// multipath-relax because nodes may have different ASNs), plus the queries tests and benchmarks use to
// see which nodes are next hops of an address, both in FRR's RIB and in the ToR's kernel (upstream.ts
// reads both).
import { mkdirSync } from 'node:fs';
import { startFrr, type FrrInstance } from '../frr.ts';
import { run } from '../../exec.ts';
import { interfacesOf, kernelRouteTable, vtyshRouteTable } from '../upstream.ts';
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
}

export function torConfig(topo: Topology, opts: TorOptions): string {
  const lines = ['frr defaults traditional', 'bgp route-map delay-timer 0', '!'];
  if (opts.protocol === 'bgp') {
    lines.push(
      `router bgp ${opts.asn ?? 65000}`,
      ` bgp router-id ${topo.node(1).torIPv4}`,
      ' no bgp ebgp-requires-policy',
      ' no bgp default ipv4-unicast',
      ' bgp bestpath as-path multipath-relax',
      ' neighbor NODES4 peer-group',
      ' neighbor NODES4 remote-as external',
      ' neighbor NODES4 timers 3 9',
      ' neighbor NODES4 timers connect 2',
      ' neighbor NODES6 peer-group',
      ' neighbor NODES6 remote-as external',
      ' neighbor NODES6 timers 3 9',
      ' neighbor NODES6 timers connect 2',
    );
    if (opts.password)
      lines.push(` neighbor NODES4 password ${opts.password}`, ` neighbor NODES6 password ${opts.password}`);
    for (const n of topo.nodes)
      lines.push(` neighbor ${n.ipv4} peer-group NODES4`, ` neighbor ${n.ipv6} peer-group NODES6`);
    lines.push(
      ' address-family ipv4 unicast',
      '  neighbor NODES4 activate',
      '  maximum-paths 16',
      ' exit-address-family',
      ' address-family ipv6 unicast',
      '  neighbor NODES6 activate',
      '  maximum-paths 16',
      ' exit-address-family',
      'exit',
    );
  } else {
    for (const n of topo.nodes) {
      lines.push(
        `interface ${n.torIfname}`,
        ' ip ospf area 0.0.0.0',
        ' ip ospf network point-to-point',
        ` ip ospf hello-interval ${opts.helloInterval ?? 1}`,
        ` ip ospf dead-interval ${opts.deadInterval ?? 4}`,
        ' ip ospf cost 10',
        ' ipv6 ospf6 area 0.0.0.0',
        ' ipv6 ospf6 network point-to-point',
        ` ipv6 ospf6 hello-interval ${opts.helloInterval ?? 1}`,
        ` ipv6 ospf6 dead-interval ${opts.deadInterval ?? 4}`,
        ' ipv6 ospf6 cost 10',
        'exit',
      );
    }
    lines.push(
      'router ospf',
      ` ospf router-id ${topo.node(1).torIPv4}`,
      ' maximum-paths 16',
      'exit',
      'router ospf6',
      ` ospf6 router-id ${topo.node(1).torIPv4}`,
      ' maximum-paths 16',
      'exit',
    );
  }
  return lines.join('\n') + '\n';
}

export async function startTor(topo: Topology, opts: TorOptions): Promise<FrrInstance> {
  mkdirSync(topo.torDir, { recursive: true });
  return startFrr(
    topo.owner(topo.torDir),
    topo.tor,
    topo.tor,
    topo.torDir,
    opts.protocol === 'bgp' ? ['bgpd'] : ['ospfd', 'ospf6d'],
    { config: torConfig(topo, opts), bgpListen: true },
  );
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
