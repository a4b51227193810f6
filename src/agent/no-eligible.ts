// The Services that have an address no node may announce, and why per node (pure): the note of the
// NoEligibleNode Warning event. Every agent sees the same heartbeats, so exactly one of them reports
// (reporterNode: the live node whose name sorts first) and no Service gets the same event from every
// node. The per-node reasons are the one eligibility rule (src/model/eligibility.ts).
import { cidrContains, formatIP, type IP } from '../api/ip.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import {
  describeIneligible,
  endpointNodesOf,
  noEligibleNode,
  type AddressScope,
  type AnnounceBlocker,
} from '../model/eligibility.ts';
import { isLive, type Heartbeat } from '../model/heartbeat.ts';
import { groupOfAddress } from '../model/servicegroups.ts';
import type { ServiceInput } from '../model/services.ts';

export const NO_ELIGIBLE_NODE = 'NoEligibleNode';

/** The node that writes NoEligibleNode events for the whole cluster: the live node whose name sorts first. */
export function reporterNode(heartbeats: readonly Heartbeat[], now: number): string | undefined {
  let first: string | undefined;
  for (const h of heartbeats) if (isLive(h, now) && (first === undefined || h.node < first)) first = h.node;
  return first;
}

export interface NoEligibleInputs {
  services: readonly ServiceInput[];
  /** Every node's heartbeat (the reporter's own included). */
  heartbeats: readonly Heartbeat[];
  groups: readonly ServiceGroupConfig[];
  /** Nodes with a ready or serving endpoint, per Service key. */
  endpoints: ReadonlyMap<string, ReadonlySet<string>>;
  now: number;
}

/** Per Service key, the note of its NoEligibleNode event; Services whose every address has an eligible node are absent. */
export function servicesWithoutEligibleNode(inp: NoEligibleInputs): Map<string, string> {
  const byAddress = new Map<string, { ip: IP; users: ServiceInput[] }>();
  for (const svc of inp.services)
    for (const ip of svc.addresses) {
      const entry = byAddress.get(formatIP(ip)) ?? { ip, users: [] };
      entry.users.push(svc);
      byAddress.set(formatIP(ip), entry);
    }
  // distinct subnets once: at 1,000 nodes most share a few
  const subnets = [
    ...new Map(inp.heartbeats.flatMap((h) => h.subnets).map((s) => [`${formatIP(s.ip)}/${s.prefix}`, s])),
  ];
  // ETP Cluster addresses of one group on the same subnets have the same answer: computed once
  const memo = new Map<string, Map<string, AnnounceBlocker> | undefined>();
  const notes = new Map<string, string[]>();
  for (const [text, { ip, users }] of [...byAddress].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const group = groupOfAddress(
      ip,
      users.flatMap((s) => s.allocatedFrom),
      inp.groups,
    );
    const on = subnets.filter(([, s]) => cidrContains(s, ip)).map(([k]) => k);
    const scope: AddressScope = {
      address: ip,
      local: on.length > 0,
      nodeSelectors: group?.nodeSelectors,
      endpointNodes: endpointNodesOf(users, inp.endpoints),
    };
    const key = scope.endpointNodes ? undefined : `${group?.name ?? ''} ${on.join(',')}`;
    const reasons = key !== undefined && memo.has(key) ? memo.get(key) : noEligibleNode(inp.heartbeats, scope, inp.now);
    if (key !== undefined) memo.set(key, reasons);
    if (!reasons) continue;
    const what = `${scope.local ? 'local' : 'virtual'} address ${text}${group ? ` of ServiceGroup ${group.name}` : ''}`;
    for (const u of users) notes.set(u.key, [...(notes.get(u.key) ?? []), `${what}: ${describeIneligible(reasons)}`]);
  }
  return new Map([...notes].map(([key, parts]) => [key, `no node may announce the ${parts.join('; the ')}`] as const));
}
