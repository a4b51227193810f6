// `purelb status` as pure functions: from the objects read from the cluster (Services, ServiceGroups,
// agent heartbeat Leases, NodeRoutingStatus objects, EndpointSlices) and optionally the upstream router's
// routes, build one report (the `-o json` output) and render it as human tables.
// Every rule (heartbeat liveness, endpoint eligibility, serving groups, aggregation) comes from the model
// the agent and the allocator use, so the report says what they do.
import type { V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import { ANN } from '../api/annotations.ts';
import { bits, canonicalIP, cidrContains, formatIP, type CIDR } from '../api/ip.ts';
import type { ServiceGroup } from '../api/types.ts';
import { announcedPrefix, virtualPrefix } from '../model/aggregation.ts';
import { HEARTBEAT_PREFIX, isLive, parseHeartbeat, type Heartbeat } from '../model/heartbeat.ts';
import { groupOfAddress, notSelectedReason, ServingGroups } from '../model/servicegroups.ts';
import { nodesWithEndpoints, serviceInput } from '../model/services.ts';

/** The status of a node's NodeRoutingStatus object (docs/routing.md). */
export interface RoutingNodeStatus {
  routerConfig?: string;
  daemon?: string;
  protocol?: string;
  configHash?: string;
  lastReload?: { time?: string; result?: string; error?: string };
  sessions?: { name?: string; state?: string; info?: string }[];
  advertised?: string[];
  advertisedCount?: number;
  updated?: string;
}

/** A NodeRoutingStatus object: named after its node. */
export interface NodeRoutingStatusLike {
  metadata?: { name?: string; namespace?: string };
  status?: RoutingNodeStatus;
}

/** Routes of the upstream router for the Service addresses: prefix -> next-hop addresses in its FIB. */
export type UpstreamRoutes = Record<string, string[]>;

export interface StatusInputs {
  now: Date;
  namespace: string;
  services: V1Service[];
  serviceGroups: ServiceGroup[];
  leases: V1Lease[];
  routingStatuses: NodeRoutingStatusLike[];
  endpointSlices: V1EndpointSlice[];
  upstream?: { netns: string; routes: UpstreamRoutes; nodeByIP: Record<string, string> };
}

export interface PoolReport {
  group: string;
  valid: boolean | null;
  message?: string;
  ipv4: { used: number; free: number } | null;
  ipv6: { used: number; free: number } | null;
}

export interface ServiceAddressReport {
  service: string;
  address: string;
  family: 4 | 6;
  group: string;
  kind: 'local' | 'virtual' | 'unknown';
  etp: 'Cluster' | 'Local';
  /** Nodes announcing: the agent's annotation (local), or the nodes whose routing status advertises the
   * address's prefix, aggregate included (virtual). */
  announcing: string[];
  /** For ETP Local: nodes with a ready or serving endpoint (the agent's rule). */
  endpointNodes?: string[];
  /** With --upstream: the router's next hops, as node names where known. */
  upstream?: string[];
  /** Nodes with a live heartbeat that may not announce the address, and why (the agent's rules). */
  ineligible: Record<string, 'not selected' | 'no endpoint' | 'not on the subnet'>;
}

export interface NodeReport {
  name: string;
  /** the agent's heartbeat Lease: fresh, stale, or absent (no agent, or it shut down) */
  heartbeat: 'live' | 'expired' | 'none';
  subnets: string[];
  routerConfig?: string;
  daemon?: string;
  protocol?: string;
  lastReload?: string;
  sessions: { name: string; state: string }[];
  advertised: string[];
}

export interface StatusReport {
  namespace: string;
  pools: PoolReport[];
  services: ServiceAddressReport[];
  nodes: NodeReport[];
  upstream?: { netns: string };
}

function poolReport(sg: ServiceGroup): PoolReport {
  const s = sg.status ?? {};
  const valid = s.conditions?.find((c) => c.type === 'Valid');
  const family = (used?: number, free?: number) =>
    used === undefined && free === undefined ? null : { used: used ?? 0, free: free ?? 0 };
  return {
    group: sg.metadata?.name ?? '',
    valid: valid ? valid.status === 'True' : null,
    ...(valid?.status === 'False' && valid.message ? { message: valid.message } : {}),
    ipv4: family(s.allocatedIPv4, s.availableIPv4),
    ipv6: family(s.allocatedIPv6, s.availableIPv6),
  };
}

const formatCIDR = (c: CIDR) => `${formatIP(c.ip)}/${c.prefix}`;

/** Heartbeat Leases by node (the model's reading: a Lease that does not parse is no live heartbeat). */
function heartbeatsByNode(leases: V1Lease[]): Map<string, Heartbeat | undefined> {
  const out = new Map<string, Heartbeat | undefined>();
  for (const lease of leases) {
    const name = lease.metadata?.name ?? '';
    if (name.startsWith(HEARTBEAT_PREFIX)) out.set(name.slice(HEARTBEAT_PREFIX.length), parseHeartbeat(lease));
  }
  return out;
}

type RoutingByNode = Map<string, RoutingNodeStatus>;

/** The one place that reads routing status: each node's NodeRoutingStatus object, keyed by its name. */
function routingByNode(objects: NodeRoutingStatusLike[]): RoutingByNode {
  return new Map(objects.map((o) => [o.metadata?.name ?? '', o.status ?? {}]));
}

/** One row per address of every branded Service: kind, who announces it, and the upstream next hops. */
function serviceReports(
  inp: StatusInputs,
  heartbeats: Map<string, Heartbeat | undefined>,
  routing: RoutingByNode,
): ServiceAddressReport[] {
  const subnets = [...heartbeats.values()].flatMap((h) => h?.subnets ?? []);
  const groups = new ServingGroups().update(inp.serviceGroups);
  const endpoints = nodesWithEndpoints(inp.endpointSlices);
  const nodeName = (ip: string) => inp.upstream?.nodeByIP[canonicalIP(ip) ?? ip] ?? ip;
  const services: ServiceAddressReport[] = [];
  for (const svc of inp.services) {
    const input = serviceInput(svc);
    if (!input) continue;
    for (const ip of input.addresses) {
      const local = subnets.some((s) => cidrContains(s, ip));
      const kind = heartbeats.size === 0 ? 'unknown' : local ? 'local' : 'virtual';
      // what routing advertises for it: the aggregate a virtual address was placed with, else a host route
      const prefix = announcedPrefix(
        ip,
        kind === 'virtual' ? virtualPrefix(ip, input.allocatedFrom, groups) : bits(ip.family),
      );
      const announcing =
        kind === 'local'
          ? [input.announcing[ip.family]?.split(',')[0]?.trim()].filter((n): n is string => !!n)
          : [...routing.entries()]
              .filter(([, st]) => (st.advertised ?? []).includes(prefix))
              .map(([n]) => n)
              .sort();
      const now = inp.now.getTime();
      const group = groupOfAddress(ip, input.allocatedFrom, groups);
      const withEndpoints = endpoints.get(input.key) ?? new Set<string>();
      const ineligible: ServiceAddressReport['ineligible'] = {};
      for (const [node, hb] of [...heartbeats].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (!hb || !isLive(hb, now)) continue;
        if (notSelectedReason(node, hb.labels, group)) ineligible[node] = 'not selected';
        else if (input.etpLocal && !withEndpoints.has(node)) ineligible[node] = 'no endpoint';
        else if (kind === 'local' && !hb.subnets.some((s) => cidrContains(s, ip)))
          ineligible[node] = 'not on the subnet';
      }
      services.push({
        service: input.key,
        address: formatIP(ip),
        family: ip.family,
        group: svc.metadata?.annotations?.[ANN.allocatedFrom] ?? '',
        kind,
        etp: input.etpLocal ? 'Local' : 'Cluster',
        announcing,
        ...(input.etpLocal ? { endpointNodes: [...(endpoints.get(input.key) ?? [])].sort() } : {}),
        ...(inp.upstream ? { upstream: (inp.upstream.routes[prefix] ?? []).map(nodeName).sort() } : {}),
        ineligible,
      });
    }
  }
  return services.sort((a, b) => a.service.localeCompare(b.service) || a.family - b.family);
}

function nodeReport(
  name: string,
  hb: Heartbeat | undefined,
  hasLease: boolean,
  now: number,
  routing: RoutingByNode,
): NodeReport {
  const st = routing.get(name);
  const reload = st?.lastReload;
  return {
    name,
    heartbeat: !hasLease ? 'none' : hb && isLive(hb, now) ? 'live' : 'expired',
    subnets: (hb?.subnets ?? []).map(formatCIDR),
    ...(st
      ? {
          routerConfig: st.routerConfig ?? '',
          daemon: st.daemon,
          protocol: st.protocol,
          ...(reload ? { lastReload: `${reload.result ?? '?'}${reload.error ? `: ${reload.error}` : ''}` } : {}),
        }
      : {}),
    sessions: (st?.sessions ?? []).map((s) => ({ name: s.name ?? '', state: s.state ?? '' })),
    advertised: st?.advertised ?? [],
  };
}

export function buildStatusReport(inp: StatusInputs): StatusReport {
  const now = inp.now.getTime();
  const heartbeats = heartbeatsByNode(inp.leases);
  const routing = routingByNode(inp.routingStatuses);
  const nodeNames = [...new Set([...heartbeats.keys(), ...routing.keys()])].sort();
  return {
    namespace: inp.namespace,
    pools: inp.serviceGroups.map(poolReport).sort((a, b) => a.group.localeCompare(b.group)),
    services: serviceReports(inp, heartbeats, routing),
    nodes: nodeNames.map((n) => nodeReport(n, heartbeats.get(n), heartbeats.has(n), now, routing)),
    ...(inp.upstream ? { upstream: { netns: inp.upstream.netns } } : {}),
  };
}

/** Left-aligned text table with a header row. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const list = (xs: string[] | undefined) => (xs && xs.length > 0 ? xs.join(',') : '-');
const usage = (f: { used: number; free: number } | null) => (f ? `${f.used}/${f.free}` : '-');

export function renderStatus(r: StatusReport): string {
  const parts = [
    `POOLS (namespace ${r.namespace}; used/free)`,
    table(
      ['GROUP', 'VALID', 'IPV4', 'IPV6'],
      r.pools.map((p) => [
        p.group,
        p.valid === null ? '?' : p.valid ? 'yes' : `no: ${p.message ?? ''}`,
        usage(p.ipv4),
        usage(p.ipv6),
      ]),
    ),
    '',
    'SERVICES',
    table(
      [
        'SERVICE',
        'ADDRESS',
        'GROUP',
        'KIND',
        'ETP',
        'ANNOUNCING',
        'NOT ELIGIBLE',
        ...(r.upstream ? [`UPSTREAM (${r.upstream.netns})`] : []),
      ],
      r.services.map((s) => [
        s.service,
        s.address,
        s.group,
        s.kind,
        s.etp === 'Local' ? `Local (endpoints: ${list(s.endpointNodes)})` : 'Cluster',
        list(s.announcing),
        list(Object.entries(s.ineligible).map(([n, why]) => `${n} (${why})`)),
        ...(r.upstream ? [list(s.upstream)] : []),
      ]),
    ),
    '',
    'NODES',
    table(
      ['NODE', 'HEARTBEAT', 'DAEMON', 'RELOAD', 'SESSIONS', 'ADVERTISED'],
      r.nodes.map((n) => [
        n.name,
        n.heartbeat,
        n.daemon ? `${n.daemon}/${n.protocol ?? '?'}` : '-',
        n.lastReload ?? '-',
        list(n.sessions.map((s) => `${s.name}=${s.state}`)),
        String(n.advertised.length),
      ]),
    ),
  ];
  return parts.join('\n');
}
