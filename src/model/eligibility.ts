// Whether a node may announce an address, and if not why (pure). The one rule behind the agent's
// election candidates (src/agent/election.ts), the "no eligible node" report on a Service
// (./no-eligible.ts, written by the allocator) and the NOT ELIGIBLE column of `purelb status`, so the
// three never disagree. For a virtual address a node whose routing reload was rejected is reported too (announceBlocker),
// but still elected: its daemon keeps running the previous config. A node is known by its heartbeat Lease (src/model/heartbeat.ts): a node without one has no
// agent and is not listed at all.
import { cidrContains, type IP } from '../api/ip.ts';
import type { Heartbeat } from './heartbeat.ts';
import { anySelectorMatches, type LabelSelector } from './node-selector.ts';

/** Why a node may not announce an address, in the order checked (the first that applies is given). */
export const INELIGIBILITY = ['excluded', 'fenced', 'not selected', 'no endpoint', 'not on the subnet'] as const;
export type Ineligibility = (typeof INELIGIBILITY)[number];

/** What decides which nodes may announce one address. */
export interface AddressScope {
  address: IP;
  /** A local address needs a node on its subnet; a virtual one goes to every eligible node. */
  local: boolean;
  /** The nodeSelectors of the address's ServiceGroup (undefined = every node). */
  nodeSelectors?: readonly LabelSelector[] | undefined;
  /** ETP Local: the nodes with a ready or serving endpoint (undefined = ETP Cluster, every node). */
  endpointNodes?: ReadonlySet<string> | undefined;
}

/**
 * The nodes with endpoints that may announce an address shared by several Services: every node
 * (undefined) as soon as one of them has externalTrafficPolicy Cluster, else the union of the nodes
 * with a ready or serving endpoint (src/model/services.ts nodesWithEndpoints).
 */
export function endpointNodesOf(
  users: readonly { key: string; etpLocal: boolean }[],
  endpoints: ReadonlyMap<string, ReadonlySet<string>>,
): Set<string> | undefined {
  if (users.some((s) => !s.etpLocal)) return undefined;
  return new Set(users.flatMap((s) => [...(endpoints.get(s.key) ?? [])]));
}

/**
 * Why the node of heartbeat `h` may not announce the address, or undefined when it may:
 * excluded (its agent marked the Lease out of service: cordoned or labelled
 * exclude-from-external-load-balancers), fenced (Lease not renewed in time), not selected (the group's
 * nodeSelectors), no endpoint (ETP Local), not on the subnet (local addresses only).
 */
export function ineligibility(h: Heartbeat, scope: AddressScope, now: number): Ineligibility | undefined {
  if (h.outOfService) return 'excluded';
  if (h.expiresAt <= now) return 'fenced';
  if (!anySelectorMatches(scope.nodeSelectors, h.labels)) return 'not selected';
  if (scope.endpointNodes && !scope.endpointNodes.has(h.node)) return 'no endpoint';
  if (scope.local && !h.subnets.some((s) => cidrContains(s, scope.address))) return 'not on the subnet';
  return undefined;
}

/** Routing reload results after which the node's daemon keeps running an older config than asked for. */
export const reloadRejected = (result: string | undefined): result is 'Rejected' | 'Failed' =>
  result === 'Rejected' || result === 'Failed';

export const ROUTING_REJECTED = 'routing rejected';
/** Why a node does not announce an address: not eligible, or (virtual address) its routing is rejected. */
export type AnnounceBlocker = Ineligibility | typeof ROUTING_REJECTED;

/**
 * Why the node may not announce the address, or undefined when it does: its ineligibility, else for a
 * virtual address 'routing rejected' when `routingRejected` (the node's last routing reload was Rejected or
 * Failed; callers may narrow it, e.g. `purelb status` to nodes whose daemon does not advertise the address).
 * Not an election rule: such a node keeps the address on kube-lb0, and its daemon keeps advertising what its
 * previous config exports (perhaps the address); the allocator only warns that nothing is sure to announce it.
 */
export function announceBlocker(
  h: Heartbeat,
  scope: AddressScope,
  now: number,
  routingRejected: boolean,
): AnnounceBlocker | undefined {
  return ineligibility(h, scope, now) ?? (!scope.local && routingRejected ? ROUTING_REJECTED : undefined);
}

/** The nodes that may announce the address, in the heartbeats' order. */
export const eligibleNodes = (heartbeats: readonly Heartbeat[], scope: AddressScope, now: number): string[] =>
  heartbeats.filter((h) => !ineligibility(h, scope, now)).map((h) => h.node);

/**
 * Every node's reason when no node is sure to announce the address (sorted by node), or undefined as soon
 * as one is: eligible and, for a virtual address, routing not rejected by its heartbeat. The common case
 * stops at the first such node.
 */
export function noEligibleNode(
  heartbeats: readonly Heartbeat[],
  scope: AddressScope,
  now: number,
): Map<string, AnnounceBlocker> | undefined {
  const reasons = new Map<string, AnnounceBlocker>();
  for (const h of heartbeats) {
    const why = announceBlocker(h, scope, now, h.routingRejected !== undefined);
    if (!why) return undefined;
    reasons.set(h.node, why);
  }
  return new Map([...reasons].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** At most this many nodes are named in a message; the rest are counted per reason. */
export const MAX_NAMED_NODES = 10;

/** "n1 (excluded), n2 (fenced), and 998 more: 990 not selected, 8 fenced" (bounded at any cluster size). */
export function describeIneligible(reasons: ReadonlyMap<string, string>): string {
  if (reasons.size === 0) return 'no node has a heartbeat Lease (no agent runs)';
  const entries = [...reasons];
  const named = entries.slice(0, MAX_NAMED_NODES).map(([n, why]) => `${n} (${why})`);
  const rest = entries.slice(MAX_NAMED_NODES);
  if (rest.length === 0) return named.join(', ');
  const counts = new Map<string, number>();
  for (const [, why] of rest) counts.set(why, (counts.get(why) ?? 0) + 1);
  const tally = [...counts].map(([why, n]) => `${n} ${why}`).join(', ');
  return `${named.join(', ')} and ${rest.length} more: ${tally}`;
}
