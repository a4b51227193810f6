// Election of the node that announces a local address (pure). Every agent computes the same answer
// from the same inputs: rendezvous hashing, sha256(node + "#" + address), lowest hash wins, over the
// live candidates (fresh heartbeat Lease, subnet contains the address, endpoints under ETP Local).
import { createHash } from 'node:crypto';
import type { V1Lease } from '@kubernetes/client-node';
import { cidrContains, parseCIDR, type CIDR, type IP } from '../api/ip.ts';

export const HEARTBEAT_PREFIX = 'purelb-node-';
export const SUBNETS_ANNOTATION = 'purelb.io/subnets';
export const HEARTBEAT_LABEL = 'purelb.io/heartbeat';
/** A Lease annotation is untrusted input: parse at most this many subnets. */
const MAX_SUBNETS = 256;

export interface Heartbeat {
  node: string;
  subnets: CIDR[];
  /** Epoch milliseconds after which the node is no longer a candidate. */
  expiresAt: number;
}

const epochMs = (t: unknown): number => (t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : NaN);

/** Reads a heartbeat Lease; undefined when it is not one or lacks holder/renew time/duration. */
export function parseHeartbeat(lease: V1Lease): Heartbeat | undefined {
  const name = lease.metadata?.name ?? '';
  const node = lease.spec?.holderIdentity;
  const renewed = epochMs(lease.spec?.renewTime);
  const duration = lease.spec?.leaseDurationSeconds;
  if (
    !name.startsWith(HEARTBEAT_PREFIX) ||
    !node ||
    name !== HEARTBEAT_PREFIX + node ||
    Number.isNaN(renewed) ||
    !duration
  )
    return undefined;
  const subnets = (lease.metadata?.annotations?.[SUBNETS_ANNOTATION] ?? '')
    .split(',')
    .slice(0, MAX_SUBNETS)
    .map((s) => parseCIDR(s.trim()))
    .filter((c): c is CIDR => !!c);
  return { node, subnets, expiresAt: renewed + duration * 1000 };
}

export const isLive = (h: Heartbeat, now: number) => h.expiresAt > now;

/** When the next currently-live heartbeat expires (the agent re-elects at that moment), if any. */
export function nextExpiry(heartbeats: Heartbeat[], now: number): number | undefined {
  const live = heartbeats.filter((h) => isLive(h, now)).map((h) => h.expiresAt);
  return live.length ? Math.min(...live) : undefined;
}

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
