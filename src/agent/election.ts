// Election of the node that announces a local address (pure). Every agent computes the same answer
// from the same inputs: rendezvous hashing, sha256(node + "#" + address), lowest hash wins, over the
// live candidates (fresh heartbeat Lease, subnet contains the address, endpoints under ETP Local).
import { createHash } from 'node:crypto';
import { cidrContains, type IP } from '../api/ip.ts';
import { isLive, type Heartbeat } from '../model/heartbeat.ts';

export const rendezvousScore = (node: string, address: string) =>
  createHash('sha256').update(`${node}#${address}`).digest('hex');

/** The winner among the nodes (lowest score, ties broken by name), or undefined when there are none. */
export function electWinner(address: string, nodes: Iterable<string>): string | undefined {
  let best: { node: string; score: string } | undefined;
  for (const node of nodes) {
    const score = rendezvousScore(node, address);
    if (!best || score < best.score || (score === best.score && node < best.node)) best = { node, score };
  }
  return best?.node;
}

/**
 * Candidates for a local address: live heartbeats whose subnets contain it, restricted to `eligible`
 * when given (ETP Local: nodes with a ready or serving endpoint).
 */
export function candidatesFor(
  address: IP,
  heartbeats: Heartbeat[],
  now: number,
  eligible?: ReadonlySet<string>,
): string[] {
  return heartbeats
    .filter(
      (h) => isLive(h, now) && (!eligible || eligible.has(h.node)) && h.subnets.some((s) => cidrContains(s, address)),
    )
    .map((h) => h.node);
}
