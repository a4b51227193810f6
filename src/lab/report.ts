// `purelb status` as pure functions: from the objects read from the cluster (Services, ServiceGroups,
// agent heartbeat Leases, RouterConfig status, EndpointSlices) and optionally the upstream router's
// routes, build one report (the `-o json` output) and render it as human tables.
import type { V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import { ANN, BRAND } from '../api/annotations.ts';
import { canonicalIP, cidrContains, parseCIDR, parseIP } from '../api/ip.ts';
import type { ServiceGroup } from '../api/types.ts';

/** Per-node entry of RouterConfig status.nodes (docs/routing.md). */
export interface RoutingNodeStatus {
  daemon?: string;
  protocol?: string;
  configHash?: string;
  lastReload?: { time?: string; result?: string; error?: string };
  sessions?: { name?: string; state?: string; info?: string }[];
  advertised?: string[];
  advertisedCount?: number;
  updated?: string;
}

export interface RouterConfigLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { daemon?: string; protocol?: string };
  status?: { nodes?: Record<string, RoutingNodeStatus> };
}

/** Routes of the upstream router for the Service addresses: prefix -> next-hop addresses in its FIB. */
export type UpstreamRoutes = Record<string, string[]>;

export interface StatusInputs {
  now: Date;
  namespace: string;
  services: V1Service[];
  serviceGroups: ServiceGroup[];
  leases: V1Lease[];
  routerConfigs: RouterConfigLike[];
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
  /** Nodes announcing: the agent's annotation (local) or routing status advertised prefixes (virtual). */
  announcing: string[];
  /** For ETP Local: nodes with a ready endpoint. */
  endpointNodes?: string[];
  /** With --upstream: the router's next hops, as node names where known. */
  upstream?: string[];
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

const HEARTBEAT_PREFIX = 'purelb-node-';

function leaseLive(l: V1Lease, now: Date): boolean {
  const renew = l.spec?.renewTime ?? l.spec?.acquireTime;
  const duration = l.spec?.leaseDurationSeconds;
  if (!renew || duration === undefined) return false;
  return new Date(String(renew)).getTime() + duration * 1000 > now.getTime();
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

/** Does an advertised prefix ("10.200.0.10/32") cover this address? */
function covers(prefix: string, address: string): boolean {
  const c = parseCIDR(prefix);
  const ip = parseIP(address);
  return c !== undefined && ip !== undefined && cidrContains(c, ip);
}

function readyEndpointNodes(slices: V1EndpointSlice[], svc: V1Service): string[] {
  const nodes = new Set<string>();
  for (const s of slices) {
    if (s.metadata?.namespace !== svc.metadata?.namespace) continue;
    if (s.metadata?.labels?.['kubernetes.io/service-name'] !== svc.metadata?.name) continue;
    for (const e of s.endpoints ?? []) {
      if (e.nodeName && (e.conditions?.ready ?? true)) nodes.add(e.nodeName);
    }
  }
  return [...nodes].sort();
}

export function buildStatusReport(inp: StatusInputs): StatusReport {
  const heartbeats = inp.leases.filter((l) => l.metadata?.name?.startsWith(HEARTBEAT_PREFIX));
  const subnetsByNode = new Map<string, string[]>();
  for (const l of heartbeats) {
    const node = l.metadata!.name!.slice(HEARTBEAT_PREFIX.length);
    const subnets = (l.metadata?.annotations?.['purelb.io/subnets'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    subnetsByNode.set(node, subnets);
  }
  const routing = new Map<string, { rc: string; st: RoutingNodeStatus; spec: RouterConfigLike['spec'] }>();
  for (const rc of inp.routerConfigs) {
    for (const [node, st] of Object.entries(rc.status?.nodes ?? {})) {
      routing.set(node, { rc: rc.metadata?.name ?? '', st, spec: rc.spec });
    }
  }
  const allSubnets = [...subnetsByNode.values()].flat();
  const nodeName = (ip: string) => inp.upstream?.nodeByIP[canonicalIP(ip) ?? ip] ?? ip;

  const services: ServiceAddressReport[] = [];
  for (const svc of inp.services) {
    const ann = svc.metadata?.annotations ?? {};
    if (ann[ANN.allocatedBy] !== BRAND) continue;
    const etp = svc.spec?.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
      const ip = ing.ip && parseIP(ing.ip);
      if (!ip) continue;
      const address = canonicalIP(ing.ip!)!;
      const family = ip.family;
      const local = allSubnets.some((s) => covers(s, address));
      const kind = subnetsByNode.size === 0 ? 'unknown' : local ? 'local' : 'virtual';
      let announcing: string[];
      if (kind === 'local') {
        const value = ann[family === 4 ? ANN.announcingIPv4 : ANN.announcingIPv6];
        announcing = value ? [value.split(',')[0]!.trim()] : [];
      } else {
        announcing = [...routing.entries()]
          .filter(([, r]) =>
            (r.st.advertised ?? []).some((p) => covers(p, address) && p.endsWith(family === 4 ? '/32' : '/128')),
          )
          .map(([n]) => n)
          .sort();
      }
      const prefix = `${address}/${family === 4 ? 32 : 128}`;
      services.push({
        service: `${svc.metadata?.namespace}/${svc.metadata?.name}`,
        address,
        family,
        group: ann[ANN.allocatedFrom] ?? '',
        kind,
        etp,
        announcing,
        ...(etp === 'Local' ? { endpointNodes: readyEndpointNodes(inp.endpointSlices, svc) } : {}),
        ...(inp.upstream ? { upstream: (inp.upstream.routes[prefix] ?? []).map(nodeName).sort() } : {}),
      });
    }
  }
  services.sort((a, b) => a.service.localeCompare(b.service) || a.family - b.family);

  const nodeNames = new Set([...subnetsByNode.keys(), ...routing.keys()]);
  const nodes: NodeReport[] = [...nodeNames].sort().map((name) => {
    const lease = heartbeats.find((l) => l.metadata?.name === HEARTBEAT_PREFIX + name);
    const r = routing.get(name);
    const reload = r?.st.lastReload;
    return {
      name,
      heartbeat: !lease ? 'none' : leaseLive(lease, inp.now) ? 'live' : 'expired',
      subnets: subnetsByNode.get(name) ?? [],
      ...(r
        ? {
            routerConfig: r.rc,
            daemon: r.st.daemon ?? r.spec?.daemon,
            protocol: r.st.protocol ?? r.spec?.protocol,
            ...(reload ? { lastReload: `${reload.result ?? '?'}${reload.error ? `: ${reload.error}` : ''}` } : {}),
          }
        : {}),
      sessions: (r?.st.sessions ?? []).map((s) => ({ name: s.name ?? '', state: s.state ?? '' })),
      advertised: r?.st.advertised ?? [],
    };
  });

  return {
    namespace: inp.namespace,
    pools: inp.serviceGroups.map(poolReport).sort((a, b) => a.group.localeCompare(b.group)),
    services,
    nodes,
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
        ...(r.upstream ? [`UPSTREAM (${r.upstream.netns})`] : []),
      ],
      r.services.map((s) => [
        s.service,
        s.address,
        s.group,
        s.kind,
        s.etp === 'Local' ? `Local (endpoints: ${list(s.endpointNodes)})` : 'Cluster',
        list(s.announcing),
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
