// Which owners this node watches over the LAN, and which successors it tells of a release (pure). For
// a local address the successor is the node that would win its election if the owner went away
// (src/agent/desired.ts computes it). Only the successor probes the owner, so an owner is probed by
// the few nodes that would take something over, never by the whole cluster; when the owner stops
// answering, the successor claims the address through the API (docs/agent.md, "Who announces a local
// address").
import { cidrContains, parseIP } from '../api/ip.ts';
import type { Heartbeat, ProbeEndpoint } from '../model/heartbeat.ts';
import type { AddressDecision } from './desired.ts';

export interface WatchedOwner {
  /** Where the owner's agent answers (the endpoint on the addresses' subnet when it has one). */
  endpoint: ProbeEndpoint;
  /** The local addresses this node takes over from it. */
  addresses: AddressDecision[];
}

/** This node's place in the succession of the local addresses, from one walk over the decisions.
 * `owners`: per owner this node is the successor of, its endpoint and the addresses concerned. Owners
 * that publish no endpoint, or are restarting (nothing answers while the next agent starts), are not
 * probed: their addresses move only when their Lease expires. `successors`: the endpoints of the
 * successors of the local addresses this node holds; a stop that released them asks these to probe
 * this node now (RELEASED_HINT_PATH), so they hear it before their next probe. */
export function succession(
  node: string,
  decisions: readonly AddressDecision[],
  heartbeats: readonly Heartbeat[],
): { owners: Map<string, WatchedOwner>; successors: ProbeEndpoint[] } {
  const byNode = new Map(heartbeats.map((h) => [h.node, h]));
  const owners = new Map<string, WatchedOwner>();
  const successors = new Map<string, ProbeEndpoint>();
  for (const d of decisions) {
    if (d.kind !== 'local' || !d.winner || !d.successor || d.winner === d.successor) continue;
    if (d.winner === node) {
      const successor = byNode.get(d.successor);
      if (successor?.probe?.length && !successors.has(d.successor))
        successors.set(d.successor, endpointFor(successor.probe, d));
      continue;
    }
    if (d.successor !== node) continue;
    const owner = byNode.get(d.winner);
    if (!owner?.probe || owner.restarting) continue;
    const watched = owners.get(d.winner);
    if (watched) watched.addresses.push(d);
    else owners.set(d.winner, { endpoint: endpointFor(owner.probe, d), addresses: [d] });
  }
  return { owners, successors: [...successors.values()] };
}

/** The endpoint on the address's subnet when there is one, else one of its family. */
function endpointFor(endpoints: readonly ProbeEndpoint[], d: AddressDecision): ProbeEndpoint {
  const ip = parseIP(d.ip)!;
  const onSubnet = endpoints.find((e) => cidrContains({ ip, prefix: d.prefix }, e.ip));
  return onSubnet ?? endpoints.find((e) => e.ip.family === d.family) ?? endpoints[0]!;
}
