// Election of the node that announces a local address (pure). Every agent computes the same answer
// from the same inputs (the heartbeat Leases, the endpoints, the ServiceGroups and the Service's
// announcing annotation), so two agents deciding at once agree:
//  1. the current owner (named by purelb.io/announcing-IPv4/-IPv6) keeps the address while it is a
//     candidate: nothing moves back to a node that returns, and a rolling update moves nothing twice;
//  2. otherwise the preferred candidates (the group's preferredNodeSelectors), if any is live;
//  3. among those, rendezvous hashing, sha256(node + "#" + address), lowest hash wins, so new
//     addresses spread over the nodes.
// Candidates are the eligible nodes of src/model/eligibility.ts: live heartbeats whose subnets contain
// the address, selected by the group's nodeSelectors (labels published in the Lease), and with
// endpoints under ETP Local.
import { createHash } from 'node:crypto';

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

export interface Candidate {
  node: string;
  /** Matches the group's preferredNodeSelectors. */
  preferred: boolean;
}

export type ElectionBasis = 'owner' | 'preferred' | 'hash';

/** The owner of an address among `candidates`, and on what basis it won; undefined without candidates. */
export function electOwner(
  address: string,
  candidates: readonly Candidate[],
  currentOwners: readonly string[],
): { node: string; basis: ElectionBasis } | undefined {
  // several Services sharing the address may name different owners for a moment: the smallest name wins
  const kept = candidates
    .map((c) => c.node)
    .filter((n) => currentOwners.includes(n))
    .sort()[0];
  if (kept) return { node: kept, basis: 'owner' };
  const preferred = candidates.filter((c) => c.preferred).map((c) => c.node);
  const winner = electWinner(address, preferred.length ? preferred : candidates.map((c) => c.node));
  return winner === undefined ? undefined : { node: winner, basis: preferred.length ? 'preferred' : 'hash' };
}

/** The node named by an announcing annotation value ("node,ifname"; PureLB v1 writes "node, ifname"). */
export const announcingNode = (value: string | undefined): string | undefined =>
  value?.split(',')[0]?.trim() || undefined;
