// A node agent's heartbeat Lease `purelb-node-<node>` as every component reads it (pure): who, which
// subnets it can announce, and until when it counts as alive.
import type { V1Lease } from '@kubernetes/client-node';
import { parseCIDR, type CIDR } from '../api/ip.ts';

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
