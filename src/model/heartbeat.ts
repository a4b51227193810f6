// A node agent's heartbeat Lease `purelb-node-<node>` as every component reads it (pure): who, which
// subnets it can announce, the node labels that ServiceGroup node selectors read (so no agent has to
// watch every Node), and until when it counts as alive. An agent whose node is out of service (cordoned,
// excluded by label) keeps its Lease but marks it (OUT_OF_SERVICE_ANNOTATION) and stops renewing it, so
// its peers can tell an excluded node (marked) from a fenced one (expired) and from one without an agent.
// The Lease also carries one segment label per published subnet (segmentLabel): an agent watches only the
// Leases of its own subnets' segments, since only nodes on an address's subnet can be elected for it.
import { createHash } from 'node:crypto';
import type { V1Lease } from '@kubernetes/client-node';
import { cidrContains, formatIP, networkOf, parseCIDR, parseIP, type CIDR, type IP } from '../api/ip.ts';

export const HEARTBEAT_PREFIX = 'purelb-node-';
export const SUBNETS_ANNOTATION = 'purelb.io/subnets';
export const HEARTBEAT_LABEL = 'purelb.io/heartbeat';
/** Prefix of the segment labels (segmentLabel): `segment.purelb.io/<id>`. */
export const SEGMENT_LABEL_PREFIX = 'segment.purelb.io/';
/** JSON object of the node's labels whose keys some ServiceGroup selector reads (absent when none). */
export const NODE_LABELS_ANNOTATION = 'purelb.io/node-labels';
/** Why the node is out of service (a sentence); present only while it is. */
export const OUT_OF_SERVICE_ANNOTATION = 'purelb.io/out-of-service';
/** Why the node's routing daemon runs an older config than asked for (its last reload was Rejected or
 * Failed); present only while it does (src/model/eligibility.ts reads it for virtual addresses). */
export const ROUTING_REJECTED_ANNOTATION = 'purelb.io/routing-rejected';
/** Where peers probe this node's agent over the LAN ("ip:port" or "[ip6]:port", comma separated): the
 * successor of each local address this node owns asks PROBE_PATH there and takes over when it stops
 * answering (src/agent/owner-probe.ts). Absent when the agent's health server is not reachable on the LAN. */
export const PROBE_ANNOTATION = 'purelb.io/probe';
/** The path a node agent answers 200 on while it counts itself a candidate for local addresses
 * (renewed heartbeat, in service, not stopping), 503 otherwise. */
export const PROBE_PATH = '/candidate';
/** The 503 body of a stopping agent that has withdrawn its local addresses: its successors claim them
 * at once instead of after the dead-after time (the Lease deletion that follows can be slow). */
export const PROBE_RELEASED = 'released: local addresses withdrawn';
/** An owner that released its local addresses asks each successor to probe it now (`?owner=<node>`):
 * they hear PROBE_RELEASED at once, not at their next probe. The hint only triggers that probe; nothing
 * moves on it alone, so a forged one costs one probe. */
export const RELEASED_HINT_PATH = '/released';
/** The 503 body of an agent that is stopping and has not withdrawn its local addresses yet: its
 * successors probe again at once (PROBE_STOPPING_INTERVAL_MS) so they hear PROBE_RELEASED soon after. */
export const PROBE_STOPPING = 'stopping';
/** Set by an agent stopping for a restart (restart grace): the next agent on the node renews the Lease
 * and clears it. While it is set the peers do not probe the node (nothing answers for a few seconds). */
export const RESTARTING_ANNOTATION = 'purelb.io/restarting';
/** A Lease annotation is untrusted input: read at most this many characters of a reason (out of service, routing). */
const MAX_REASON_TEXT = 512;
/** A Lease annotation is untrusted input: read at most this many characters of labels. */
const MAX_LABELS_TEXT = 16_384;
/** A Lease annotation is untrusted input: parse at most this many subnets (and probe endpoints). */
const MAX_SUBNETS = 256;

/** An agent's LAN address and health port, as a peer probes it. */
export interface ProbeEndpoint {
  ip: IP;
  port: number;
}

export interface Heartbeat {
  node: string;
  subnets: CIDR[];
  /** The node's labels that selectors read (see NODE_LABELS_ANNOTATION). */
  labels: Record<string, string>;
  /** Epoch milliseconds after which the node is no longer a candidate. */
  expiresAt: number;
  /** Epoch milliseconds of the last renewal (the renewing agent's clock). */
  renewedAt: number;
  /** Why the node is out of service, when its agent marked the Lease so: never a candidate then. */
  outOfService?: string;
  /** Why the node's last routing reload was Rejected or Failed, while it was (ROUTING_REJECTED_ANNOTATION). */
  routingRejected?: string;
  /** Where its agent answers probes (PROBE_ANNOTATION): only addresses inside its own subnets. */
  probe?: ProbeEndpoint[];
  /** Its agent is stopping for a restart (RESTARTING_ANNOTATION): not probed meanwhile. */
  restarting?: boolean;
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
  const labels = parseLabels(lease.metadata?.annotations?.[NODE_LABELS_ANNOTATION]);
  const outOfService = lease.metadata?.annotations?.[OUT_OF_SERVICE_ANNOTATION]?.slice(0, MAX_REASON_TEXT);
  const routingRejected = lease.metadata?.annotations?.[ROUTING_REJECTED_ANNOTATION]?.slice(0, MAX_REASON_TEXT);
  const probe = parseProbeEndpoints(lease.metadata?.annotations?.[PROBE_ANNOTATION], subnets);
  const restarting = lease.metadata?.annotations?.[RESTARTING_ANNOTATION] !== undefined;
  return {
    node,
    subnets,
    labels,
    expiresAt: renewed + duration * 1000,
    renewedAt: renewed,
    ...(outOfService ? { outOfService } : {}),
    ...(routingRejected ? { routingRejected } : {}),
    ...(probe.length ? { probe } : {}),
    ...(restarting ? { restarting } : {}),
  };
}

/** The annotation value for probe endpoints. */
export const formatProbeEndpoints = (endpoints: readonly ProbeEndpoint[]): string =>
  endpoints
    .map(({ ip, port }) => (ip.family === 6 ? `[${formatIP(ip)}]:${port}` : `${formatIP(ip)}:${port}`))
    .join(',');

/** Probe endpoints from a Lease: only addresses inside the node's own published subnets, so a Lease
 * cannot make its peers send requests anywhere else than onto their shared LAN. */
function parseProbeEndpoints(text: string | undefined, subnets: readonly CIDR[]): ProbeEndpoint[] {
  const out: ProbeEndpoint[] = [];
  for (const item of (text ?? '').split(',').slice(0, MAX_SUBNETS)) {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(item.trim());
    const ip = m && parseIP(m[1] ?? m[2]!);
    const port = Number(m?.[3]);
    if (ip && port > 0 && port < 65536 && subnets.some((s) => cidrContains(s, ip))) out.push({ ip, port });
  }
  return out;
}

/** The published labels; anything malformed reads as no labels (the node then matches no selector that needs one). */
function parseLabels(text: string | undefined): Record<string, string> {
  if (!text || text.length > MAX_LABELS_TEXT) return {};
  try {
    const obj: unknown = JSON.parse(text);
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return {};
    return Object.fromEntries(Object.entries(obj).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

/** The annotation value for `labels` (stable key order, so an unchanged set is never rewritten). */
export const formatLabels = (labels: Record<string, string>): string =>
  JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));

/** The segment label key of a parsed subnet (see segmentLabel). */
function segmentKey(c: CIDR): string {
  const canonical = `${formatIP({ family: c.ip.family, value: networkOf(c).first })}/${c.prefix}`;
  return SEGMENT_LABEL_PREFIX + createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * The label key that puts a heartbeat Lease in the L2 segment of `cidr`: `segment.purelb.io/` + the first
 * 16 hex digits of sha256 of the canonical subnet (network address, compressed IPv6), since a label name
 * allows 63 characters and no `/` or `:`. Nodes with the same subnet get the same key whatever their host
 * address; undefined when `cidr` is no CIDR.
 */
export function segmentLabel(cidr: string): string | undefined {
  const c = parseCIDR(cidr);
  return c && segmentKey(c);
}

/** The label selector of the heartbeat Leases in the segment of `cidr`. */
export function segmentSelector(cidr: string): string {
  const label = segmentLabel(cidr);
  if (!label) throw new Error(`segmentSelector: "${cidr}" is not a subnet (network/prefix)`);
  return `${HEARTBEAT_LABEL}=node,${label}`;
}

/**
 * The Lease labels for the node's subnets: HEARTBEAT_LABEL and one segment label per subnet (value: its
 * family, "4" or "6"). A segment label in `current` (the labels the Lease has now) whose subnet is no
 * longer given is set to null, so a merge patch removes it and the node leaves that segment's watches.
 */
export function heartbeatLabels(
  subnets: readonly string[],
  current: Readonly<Record<string, string>> = {},
): Record<string, string | null> {
  const labels: Record<string, string | null> = {};
  for (const key of Object.keys(current)) if (key.startsWith(SEGMENT_LABEL_PREFIX)) labels[key] = null;
  for (const c of subnets.map((s) => parseCIDR(s)).filter((x): x is CIDR => !!x))
    labels[segmentKey(c)] = String(c.ip.family);
  return { ...labels, [HEARTBEAT_LABEL]: 'node' };
}

/** A candidate: renewed in time and not marked out of service. */
export const isLive = (h: Heartbeat, now: number) => !h.outOfService && h.expiresAt > now;

/** When the next currently-live heartbeat expires (the agent re-elects at that moment), if any. */
export function nextExpiry(heartbeats: Heartbeat[], now: number): number | undefined {
  const live = heartbeats.filter((h) => isLive(h, now)).map((h) => h.expiresAt);
  return live.length ? Math.min(...live) : undefined;
}
