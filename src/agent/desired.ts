// The agent's decision for every address of every branded Service (pure): local or virtual, whether
// this node holds it, on which interface, with which prefix, and why not when it does not.
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { formatIP, type Family, type IP } from '../api/ip.ts';
import { virtualPrefix } from '../model/aggregation.ts';
import { candidatesFor, electWinner } from './election.ts';
import type { Heartbeat } from '../model/heartbeat.ts';
import { placeLocal, type KernelLink } from './interfaces.ts';
import type { ServiceInput } from '../model/services.ts';

export interface DesiredInputs {
  node: string;
  links: KernelLink[];
  /** Interfaces that may carry local addresses, per family, in preference order. */
  localCandidates: Record<Family, string[]>;
  /** Addresses the agent placed ("ifname ip/prefix"); they never define a local subnet. */
  owned: ReadonlySet<string>;
  extlbint: string;
  services: ServiceInput[];
  /** Nodes with a ready or serving endpoint, per Service key. */
  endpoints: ReadonlyMap<string, ReadonlySet<string>>;
  /** Every node's heartbeat, this node's own included (absent or expired while it is fenced). */
  heartbeats: Heartbeat[];
  /** The serving ServiceGroups (model/servicegroups.ts): an invalid group sets no prefix. */
  groups: ServiceGroupConfig[];
  now: number;
  /**
   * Why this node is out of service (cordoned, excluded by label), if it is: it then holds no address,
   * and is no candidate for local addresses even if its own heartbeat is among `heartbeats`.
   */
  outOfService?: string;
}

export interface AddressDecision {
  ip: string;
  family: Family;
  kind: 'local' | 'virtual';
  ifname: string;
  prefix: number;
  /** True when this node puts the address on `ifname`. */
  announce: boolean;
  /** Local addresses: the elected node, if any node is a candidate. */
  winner?: string;
  /** Keys of the Services using the address. */
  services: string[];
  /** Why this node does not announce it (empty when it does). */
  reason: string;
}

/**
 * Nodes allowed to announce an address shared by several Services: every node as soon as one of them
 * has externalTrafficPolicy Cluster (undefined), else the union of the nodes with endpoints.
 */
function eligibleNodes(users: ServiceInput[], endpoints: DesiredInputs['endpoints']): Set<string> | undefined {
  if (users.some((s) => !s.etpLocal)) return undefined;
  return new Set(users.flatMap((s) => [...(endpoints.get(s.key) ?? [])]));
}

export function decideAddresses(inp: DesiredInputs): AddressDecision[] {
  const byAddress = new Map<string, { ip: IP; users: ServiceInput[] }>();
  for (const svc of inp.services) {
    for (const ip of svc.addresses) {
      const text = formatIP(ip);
      const entry = byAddress.get(text) ?? { ip, users: [] };
      entry.users.push(svc);
      byAddress.set(text, entry);
    }
  }
  const decisions: AddressDecision[] = [];
  for (const [text, { ip, users }] of [...byAddress].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const eligible = eligibleNodes(users, inp.endpoints);
    const services = users.map((s) => s.key).sort();
    const local = placeLocal(ip, inp.localCandidates[ip.family], inp.links, inp.owned);
    if (local) {
      const candidates = candidatesFor(ip, inp.heartbeats, inp.now, eligible).filter(
        (n) => !inp.outOfService || n !== inp.node,
      );
      const winner = electWinner(text, candidates);
      const announce = winner === inp.node;
      const reason = announce
        ? ''
        : inp.outOfService
          ? `node ${inp.node} is out of service: ${inp.outOfService}`
          : winner
            ? `${winner} won the election`
            : eligible
              ? 'no live node with a ready endpoint can announce it'
              : 'no live node can announce it (own heartbeat not fresh)';
      decisions.push({
        ip: text,
        family: ip.family,
        kind: 'local',
        ifname: local.ifname,
        prefix: local.prefix,
        announce,
        winner,
        services,
        reason,
      });
    } else {
      const announce = !inp.outOfService && (!eligible || eligible.has(inp.node));
      const allocatedFrom = users.flatMap((s) => s.allocatedFrom);
      const reason = announce
        ? ''
        : inp.outOfService
          ? `node ${inp.node} is out of service: ${inp.outOfService}`
          : 'externalTrafficPolicy Local and no ready endpoint on this node';
      decisions.push({
        ip: text,
        family: ip.family,
        kind: 'virtual',
        ifname: inp.extlbint,
        prefix: virtualPrefix(ip, allocatedFrom, inp.groups),
        announce,
        services,
        reason,
      });
    }
  }
  return decisions;
}
