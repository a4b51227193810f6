// The Services that have an address no node may announce, and why per node (pure): the note of the
// NoEligibleNode Warning event. The leading allocator writes it (src/allocator/no-eligible-report.ts):
// it is one process that may watch every node's heartbeat Lease, while every agent watching every Lease
// would cost nodes squared. The per-node reasons are the one eligibility rule (./eligibility.ts).
import { cidrContains, formatIP, type IP } from '../api/ip.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import {
  describeIneligible,
  endpointNodesOf,
  noEligibleNode,
  type AddressScope,
  type AnnounceBlocker,
} from './eligibility.ts';
import type { Heartbeat } from './heartbeat.ts';
import { groupOfAddress } from './servicegroups.ts';
import type { ServiceInput } from './services.ts';

export const NO_ELIGIBLE_NODE = 'NoEligibleNode';

export interface NoEligibleInputs {
  services: readonly ServiceInput[];
  /** Every node's heartbeat. */
  heartbeats: readonly Heartbeat[];
  groups: readonly ServiceGroupConfig[];
  /** Nodes with a ready or serving endpoint, per Service key. */
  endpoints: ReadonlyMap<string, ReadonlySet<string>>;
  now: number;
}

/**
 * Per Service key, the note of its NoEligibleNode event; Services whose every address has an eligible
 * node are absent. Without any heartbeat Lease (no node agent installed yet, or none at all) nothing is
 * reported: that is no fault of one Service, and would be a warning on every Service of the cluster.
 */
export function servicesWithoutEligibleNode(inp: NoEligibleInputs): Map<string, string> {
  if (inp.heartbeats.length === 0) return new Map();
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
