// The upstream router's view of the Service addresses: host routes and their ECMP next hops, read
// from FRR (`show ip route json`, the lab's ToR) or from any namespace's kernel FIB (`ip -j route`).
import { canonicalIP } from '../api/ip.ts';
import { inNetns, run } from './exec.ts';
import type { UpstreamRoutes } from '../status/report.ts';

interface VtyNexthop {
  ip?: string;
  fib?: boolean;
  active?: boolean;
}
interface VtyRoute {
  protocol?: string;
  selected?: boolean;
  nexthops?: VtyNexthop[];
}

const hostPrefix = (p: string) => p.endsWith('/32') || p.endsWith('/128');

/** FRR `show ip[v6] route json`: host prefixes -> next hops installed in the FIB of the selected entry. */
export function parseVtyshRoutes(json: string): UpstreamRoutes {
  const out: UpstreamRoutes = {};
  for (const [prefix, entries] of Object.entries(JSON.parse(json) as Record<string, VtyRoute[]>)) {
    if (!hostPrefix(prefix)) continue;
    const selected = entries.find((e) => e.selected);
    const hops = (selected?.nexthops ?? []).filter((n) => n.fib && n.ip).map((n) => canonicalIP(n.ip!) ?? n.ip!);
    if (hops.length > 0) out[prefix] = [...new Set(hops)].sort();
  }
  return out;
}

interface KernelRoute {
  dst?: string;
  gateway?: string;
  nexthops?: { gateway?: string }[];
}

/** `ip -j route show`: host routes with a gateway (one or ECMP). */
export function parseKernelRoutes(json: string, family: 4 | 6): UpstreamRoutes {
  const out: UpstreamRoutes = {};
  for (const r of JSON.parse(json) as KernelRoute[]) {
    if (!r.dst || r.dst === 'default') continue;
    const prefix = r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
    if (!hostPrefix(prefix)) continue;
    const hops = [r.gateway, ...(r.nexthops ?? []).map((n) => n.gateway)].filter((g): g is string => !!g);
    if (hops.length > 0) out[prefix] = [...new Set(hops.map((h) => canonicalIP(h) ?? h))].sort();
  }
  return out;
}

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
