// The agent's decision for every address of every branded Service (pure): local or virtual, whether
// this node holds it, on which interface, with which prefix, and why not when it does not.
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { formatIP, type Family, type IP } from '../api/ip.ts';
import { virtualPrefix } from '../model/aggregation.ts';
import { announcingNode, electOwner, type ElectionBasis } from './election.ts';
import { eligibleNodes, endpointNodesOf } from '../model/eligibility.ts';
import type { Heartbeat } from '../model/heartbeat.ts';
import { anySelectorMatches, type Labels } from '../model/node-selector.ts';
import { groupOfAddress, notSelectedReason } from '../model/servicegroups.ts';
import { localPlacer, type KernelLink } from './interfaces.ts';
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
  /** This node's labels (for its own ServiceGroup node selectors; peers' come from their heartbeats). */
  labels: Labels;
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
  /** Local addresses: why the winner won (kept as current owner, preferred, or by hash). */
  basis?: ElectionBasis;
  /** Local addresses: the node that would win without the winner; it probes the winner over the LAN
   * (src/agent/succession.ts). */
  successor?: string;
  /** Keys of the Services using the address. */
  services: string[];
  /** Why this node does not announce it (empty when it does). */
  reason: string;
}

const BASIS_TEXT: Record<ElectionBasis, string> = {
  owner: 'keeps it as its current owner',
  preferred: 'won the election among the preferred nodes',
  hash: 'won the election',
};

// eslint-disable-next-line max-lines-per-function -- one pass over the addresses: the local and the virtual decision side by side, each with its reason
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
  // an out-of-service node is no candidate, even with its own heartbeat among them
  const beats = inp.heartbeats.filter((h) => !inp.outOfService || h.node !== inp.node);
  const labelsOf = new Map(beats.map((h) => [h.node, h.labels]));
  const placeLocal = {
    4: localPlacer(inp.localCandidates[4], inp.links, inp.owned),
    6: localPlacer(inp.localCandidates[6], inp.links, inp.owned),
  };
  for (const [text, { ip, users }] of [...byAddress].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const eligible = endpointNodesOf(users, inp.endpoints);
    const services = users.map((s) => s.key).sort();
    const allocatedFrom = users.flatMap((s) => s.allocatedFrom);
    const group = groupOfAddress(ip, allocatedFrom, inp.groups);
    const unselected = notSelectedReason(inp.node, inp.labels, group);
    const outOfService = inp.outOfService && `node ${inp.node} is out of service: ${inp.outOfService}`;
    const noEndpoint =
      eligible && !eligible.has(inp.node)
        ? `no ready endpoint on node ${inp.node} (externalTrafficPolicy Local)`
        : undefined;
    const local = placeLocal[ip.family](ip);
    if (local) {
      const scope = { address: ip, local: true, nodeSelectors: group?.nodeSelectors, endpointNodes: eligible };
      const candidates = eligibleNodes(beats, scope, inp.now).map((node) => ({
        node,
        preferred:
          !!group?.preferredNodeSelectors && anySelectorMatches(group.preferredNodeSelectors, labelsOf.get(node) ?? {}),
      }));
      const owners = users.flatMap((s) => announcingNode(s.announcing[ip.family]) ?? []);
      const elected = electOwner(text, candidates, owners);
      const successor =
        elected &&
        electOwner(
          text,
          candidates.filter((c) => c.node !== elected.node),
          owners,
        )?.node;
      const announce = elected?.node === inp.node;
      const reason = announce
        ? ''
        : (outOfService ??
          unselected ??
          noEndpoint ??
          (elected
            ? `${elected.node} ${BASIS_TEXT[elected.basis]}`
            : eligible
              ? 'no live node with a ready endpoint can announce it'
              : group?.nodeSelectors
                ? `no live node selected by ServiceGroup ${group.name}'s nodeSelectors can announce it`
                : 'no live node can announce it (own heartbeat not fresh)'));
      decisions.push({
        ip: text,
        family: ip.family,
        kind: 'local',
        ifname: local.ifname,
        prefix: local.prefix,
        announce,
        winner: elected?.node,
        basis: elected?.basis,
        successor,
        services,
        reason,
      });
    } else {
      const reason = outOfService ?? unselected ?? noEndpoint ?? '';
      decisions.push({
        ip: text,
        family: ip.family,
        kind: 'virtual',
        ifname: inp.extlbint,
        prefix: virtualPrefix(ip, allocatedFrom, inp.groups),
        announce: !reason,
        services,
        reason,
      });
    }
  }
  return decisions;
}
