// `purelb status` as pure functions: from the objects read from the cluster (Services, ServiceGroups,
// agent heartbeat Leases, NodeRoutingStatus objects, EndpointSlices, the allocator's AllocationFailed
// events) and optionally the upstream router's routes, build one report (the `-o json` output) and render
// it as human tables.
// Every rule (heartbeat liveness, endpoint eligibility, serving groups, aggregation) comes from the model
// the agent and the allocator use, so the report says what they do.
import type { EventsV1Event, V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import { ANN, DEFAULT_LB_CLASS } from '../api/annotations.ts';
import { isHandled } from '../allocator/request.ts';
import { bits, canonicalIP, cidrContains, formatIP, type CIDR } from '../api/ip.ts';
import type { ServiceGroup } from '../api/types.ts';
import { announcedPrefix, virtualPrefix } from '../model/aggregation.ts';
import { announceBlocker, endpointNodesOf, reloadRejected, type AnnounceBlocker } from '../model/eligibility.ts';
import { HEARTBEAT_PREFIX, isLive, parseHeartbeat, type Heartbeat } from '../model/heartbeat.ts';
import { groupOfAddress, ServingGroups } from '../model/servicegroups.ts';
import { nodesWithEndpoints, serviceInput, serviceKey, type ServiceInput } from '../model/services.ts';

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
  /** The allocator's AllocationFailed events: why a Service has no address (scope refused, exhausted, ...). */
  allocationEvents?: EventsV1Event[];
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
  /** Nodes with a heartbeat Lease that may not announce the address, and why (the agent's rule,
   * src/model/eligibility.ts); a node the agent would place a virtual address on whose routing
   * config was rejected or failed to load, and which does not advertise it, is "routing rejected". */
  ineligible: Record<string, AnnounceBlocker>;
}

/** A LoadBalancer Service of ours without an address, and why (the allocator's last AllocationFailed note). */
export interface PendingReport {
  service: string;
  why: string;
}

export interface NodeReport {
  name: string;
  /** the agent's heartbeat Lease: fresh, stale, marked out of service (cordoned, excluded by label),
   * or absent (no agent, or it shut down) */
  heartbeat: 'live' | 'expired' | 'out of service' | 'none';
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
  pending: PendingReport[];
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
  const inputs = inp.services.map((svc) => [svc, serviceInput(svc)] as const);
  // an address shared by several Services may be announced where any of them has endpoints (the agent's rule)
  const usersOf = new Map<string, ServiceInput[]>();
  for (const [, input] of inputs) {
    if (!input) continue;
    for (const ip of input.addresses) usersOf.set(formatIP(ip), [...(usersOf.get(formatIP(ip)) ?? []), input]);
  }
  for (const [svc, input] of inputs) {
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
      const group = groupOfAddress(ip, input.allocatedFrom, groups);
      const scope = {
        address: ip,
        local: kind === 'local',
        nodeSelectors: group?.nodeSelectors,
        endpointNodes: endpointNodesOf(usersOf.get(formatIP(ip)) ?? [input], endpoints),
      };
      const ineligible: ServiceAddressReport['ineligible'] = {};
      for (const [node, hb] of [...heartbeats].sort(([a], [b]) => (a < b ? -1 : 1))) {
        // the agents' rule, narrowed to nodes whose daemon does not advertise the address (status knows that)
        const rejected = !announcing.includes(node) && reloadRejected(routing.get(node)?.lastReload?.result);
        const why = hb ? announceBlocker(hb, scope, inp.now.getTime(), rejected) : undefined;
        if (why) ineligible[node] = why;
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

const eventTime = (e: EventsV1Event) =>
  new Date(e.series?.lastObservedTime ?? e.eventTime ?? e.deprecatedLastTimestamp ?? 0).getTime();

/** Services of the default class with no ingress address, each with the newest AllocationFailed note. */
function pendingReports(inp: StatusInputs): PendingReport[] {
  const latest = new Map<string, EventsV1Event>();
  for (const e of inp.allocationEvents ?? []) {
    if (e.reason !== 'AllocationFailed' || e.regarding?.kind !== 'Service') continue;
    const key = serviceKey(e.regarding.namespace, e.regarding.name);
    const seen = latest.get(key);
    if (!seen || eventTime(e) >= eventTime(seen)) latest.set(key, e);
  }
  return inp.services
    .filter((svc) => isHandled(svc, DEFAULT_LB_CLASS) && !(svc.status?.loadBalancer?.ingress ?? []).some((i) => i.ip))
    .map((svc) => {
      const key = serviceKey(svc.metadata?.namespace, svc.metadata?.name);
      return { service: key, why: latest.get(key)?.note ?? 'no AllocationFailed event (is an allocator leading?)' };
    })
    .sort((a, b) => a.service.localeCompare(b.service));
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
    heartbeat: !hasLease ? 'none' : hb?.outOfService ? 'out of service' : hb && isLive(hb, now) ? 'live' : 'expired',
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
    pending: pendingReports(inp),
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
    ...(r.pending.length
      ? [
          '',
          'PENDING (no address)',
          table(
            ['SERVICE', 'WHY'],
            r.pending.map((p) => [p.service, p.why]),
          ),
        ]
      : []),
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
