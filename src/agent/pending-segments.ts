// A subnet the node has just got (a new interface or address) is watched from then on, but until its
// segment's heartbeat Leases are listed the agent does not know its peers there (pure).
import { segmentLabel } from '../model/heartbeat.ts';
import type { AddressDecision } from './desired.ts';
import { addressKey } from './interfaces.ts';

/**
 * The decisions with every local address on a subnet of `pending` that this node does not hold yet
 * (`owned`) not announced: elected on a partial view, the node could take an address a peer holds. It
 * takes it, if it still wins, once the Leases are listed; what it holds there already stays.
 */
export function holdBackPendingSegments(
  decisions: AddressDecision[],
  pending: readonly string[],
  owned: ReadonlySet<string>,
): AddressDecision[] {
  if (pending.length === 0) return decisions;
  const waiting = new Map(pending.map((s) => [segmentLabel(s), s]));
  return decisions.map((d) => {
    const subnet = d.kind === 'local' && d.announce && waiting.get(segmentLabel(`${d.ip}/${d.prefix}`));
    if (!subnet || owned.has(addressKey(d.ifname, d.ip, d.prefix))) return d;
    return { ...d, announce: false, reason: `the heartbeat Leases of the segment of ${subnet} are not listed yet` };
  });
}
