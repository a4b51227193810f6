// A router's view of the Service addresses: routes and their ECMP next hops (gateway and interface),
// read from FRR (`show ip route json`, a ToR) or from any namespace's kernel FIB (`ip -j route`). The
// status command shows the gateways of routed prefixes; the test Topology compares interfaces.
import { canonicalIP } from '../api/ip.ts';
import { inNetns, run } from '../exec.ts';
import type { UpstreamRoutes } from './report.ts';

interface VtyNexthop {
  ip?: string;
  interfaceName?: string;
  fib?: boolean;
  active?: boolean;
}
interface VtyRoute {
  protocol?: string;
  selected?: boolean;
  nexthops?: VtyNexthop[];
}

interface KernelRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

/** A next hop a router forwards a prefix to: the gateway address, the interface, or both. */
export interface NextHop {
  ip?: string;
  dev?: string;
}

/** prefix ("10.0.0.1/32", "fd00::/64") -> its installed next hops. */
export type RouteTable = Record<string, NextHop[]>;

const canonical = (ip: string | undefined) => (ip ? (canonicalIP(ip) ?? ip) : undefined);

/** FRR `show ip[v6] route [prefix] json`: the next hops installed in the FIB of each selected entry. */
export function vtyshRouteTable(json: string): RouteTable {
  const out: RouteTable = {};
  for (const [prefix, entries] of Object.entries(JSON.parse(json || '{}') as Record<string, VtyRoute[]>)) {
    const selected = entries.find((e) => e.selected);
    const hops = (selected?.nexthops ?? []).filter((n) => n.fib);
    if (hops.length > 0) out[prefix] = hops.map((n) => ({ ip: canonical(n.ip), dev: n.interfaceName }));
  }
  return out;
}

/** `ip -j route show [prefix]`: routes keyed by prefix (a host route's bare address gets /32 or /128). */
export function kernelRouteTable(json: string, family: 4 | 6): RouteTable {
  const out: RouteTable = {};
  for (const r of JSON.parse(json || '[]') as KernelRoute[]) {
    if (!r.dst || r.dst === 'default') continue;
    const prefix = r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
    const hops = r.nexthops ?? [{ gateway: r.gateway, dev: r.dev }];
    out[prefix] = [...(out[prefix] ?? []), ...hops.map((n) => ({ ip: canonical(n.gateway), dev: n.dev }))];
  }
  return out;
}

/** Routed prefixes -> their gateways, sorted (what `purelb status --upstream` shows): host routes and the
 * aggregates of pools with an aggregation; connected routes have no gateway and drop out. */
export function gateways(table: RouteTable): UpstreamRoutes {
  const out: UpstreamRoutes = {};
  for (const [prefix, hops] of Object.entries(table)) {
    const ips = hops.map((h) => h.ip).filter((ip): ip is string => !!ip);
    if (ips.length > 0) out[prefix] = [...new Set(ips)].sort();
  }
  return out;
}

/** The interfaces a prefix is forwarded out of, sorted. */
export const interfacesOf = (table: RouteTable, prefix: string) => (table[prefix] ?? []).map((h) => h.dev ?? '').sort();

/** FRR `show ip[v6] route json`: routed prefixes -> next hops installed in the FIB of the selected entry. */
export const parseVtyshRoutes = (json: string) => gateways(vtyshRouteTable(json));

/** `ip -j route show`: routes with a gateway (one or ECMP). */
export const parseKernelRoutes = (json: string, family: 4 | 6) => gateways(kernelRouteTable(json, family));

/** The lab's ToR: FRR in `netns`, its vty sockets in `vtyDir`. */
export async function readVtyshRoutes(netns: string, vtyDir: string): Promise<UpstreamRoutes> {
  const show = (cmd: string) => inNetns(netns, 'vtysh', ['--vty_socket', vtyDir, '-c', cmd]);
  return {
    ...parseVtyshRoutes(await show('show ip route json')),
    ...parseVtyshRoutes(await show('show ipv6 route json')),
  };
}

/** Any namespace: the kernel FIB (what really forwards). */
export async function readKernelRoutes(netns: string): Promise<UpstreamRoutes> {
  const get = (f: 4 | 6) => run('ip', ['-n', netns, `-${f}`, '-j', 'route', 'show']);
  return { ...parseKernelRoutes(await get(4), 4), ...parseKernelRoutes(await get(6), 6) };
}

interface Neighbour {
  dst?: string;
  dev?: string;
  lladdr?: string;
}

/**
 * Names next hops the node list cannot: IPv6 routes often point at a node's link-local address, while
 * Node objects list its global ones. Addresses behind the same MAC on the same link in the router's
 * neighbour table (`ip -j neigh`) belong to the same node.
 */
export function nameByNeighbours(nodeByIP: Record<string, string>, neighJson: string): Record<string, string> {
  const groups = new Map<string, string[]>();
  for (const n of JSON.parse(neighJson || '[]') as Neighbour[]) {
    if (!n.dst || !n.lladdr) continue;
    const key = `${n.dev}/${n.lladdr.toLowerCase()}`;
    groups.set(key, [...(groups.get(key) ?? []), canonicalIP(n.dst) ?? n.dst]);
  }
  const out = { ...nodeByIP };
  for (const ips of groups.values()) {
    const node = ips.map((ip) => nodeByIP[ip]).find((x) => x !== undefined);
    if (node) for (const ip of ips) out[ip] ??= node;
  }
  return out;
}

export const readNeighbours = (netns: string) => run('ip', ['-n', netns, '-j', 'neigh', 'show']);
