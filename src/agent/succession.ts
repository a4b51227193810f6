// Which owners this node watches over the LAN (pure). For a local address the successor is the node
// that would win its election if the owner went away (src/agent/desired.ts computes it). Only the
// successor probes the owner, so an owner is probed by the few nodes that would take something over,
// never by the whole cluster; when the owner stops answering, the successor claims the address through
// the API (docs/agent.md, "Who announces a local address").
import { cidrContains, parseIP } from '../api/ip.ts';
import type { Heartbeat, ProbeEndpoint } from '../model/heartbeat.ts';
import type { AddressDecision } from './desired.ts';

export interface WatchedOwner {
  /** Where the owner's agent answers (the endpoint on the addresses' subnet when it has one). */
  endpoint: ProbeEndpoint;
  /** The local addresses this node takes over from it. */
  addresses: AddressDecision[];
}

/** Per owner this node is the successor of: its endpoint and the addresses concerned. Owners that publish
 * no endpoint, or are restarting (nothing answers while the next agent starts), are not probed: their
 * addresses move only when their Lease expires. */
export function ownersToProbe(
  node: string,
  decisions: readonly AddressDecision[],
  heartbeats: readonly Heartbeat[],
): Map<string, WatchedOwner> {
  const byNode = new Map(heartbeats.map((h) => [h.node, h]));
  const out = new Map<string, WatchedOwner>();
  for (const d of decisions) {
    if (d.kind !== 'local' || d.successor !== node || !d.winner || d.winner === node) continue;
    const owner = byNode.get(d.winner);
    if (!owner?.probe || owner.restarting) continue;
    const watched = out.get(d.winner);
    if (watched) {
      watched.addresses.push(d);
      continue;
    }
    const ip = parseIP(d.ip)!;
    const onSubnet = owner.probe.find((e) => cidrContains({ ip, prefix: d.prefix }, e.ip));
    const endpoint = onSubnet ?? owner.probe.find((e) => e.ip.family === d.family) ?? owner.probe[0]!;
    out.set(d.winner, { endpoint, addresses: [d] });
  }
  return out;
}
