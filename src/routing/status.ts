// The per-node routing status: the status of one NodeRoutingStatus object per node (named after the node, in
// the install namespace, owned by the Node), written only by that node's agent with server-side apply, so
// one node's change is one write into an object of bounded size that no other agent watches.
// Shape documented in docs/routing.md.
import { reloadRejected } from '../model/eligibility.ts';
import { API_VERSION, NODE_ROUTING_STATUS_KIND } from '../api/names.ts';
import type { ApplyResult, DaemonStatus, ReloadResult } from './advertiser.ts';

export const MAX_LISTED_PREFIXES = 64;
export const MAX_SESSIONS = 64;

export interface NodeRoutingStatus {
  /** the RouterConfig that selects the node */
  routerConfig: string;
  daemon: string;
  protocol: string;
  observedGeneration?: number;
  /** sha256 of the configuration that is running (absent until one was applied). */
  configHash?: string;
  lastReload?: { time: string; result: ReloadResult; error?: string };
  sessions: Array<{ name: string; state: string; info?: string }>;
  advertised: string[];
  advertisedCount: number;
  /** The daemon did not answer the last status query; sessions/advertised are then empty, never stale. */
  daemonError?: string;
  updated: string;
}

export function buildNodeStatus(args: {
  routerConfig: string;
  daemon: string;
  protocol: string;
  generation?: number;
  applied?: ApplyResult;
  lastReload?: NodeRoutingStatus['lastReload'];
  daemonStatus?: DaemonStatus;
  daemonError?: string;
  now: Date;
}): NodeRoutingStatus {
  const d = args.daemonStatus;
  return {
    routerConfig: args.routerConfig,
    daemon: args.daemon,
    protocol: args.protocol,
    ...(args.generation !== undefined ? { observedGeneration: args.generation } : {}),
    ...(args.applied?.hash ? { configHash: args.applied.hash } : {}),
    ...(args.lastReload ? { lastReload: args.lastReload } : {}),
    sessions: (d?.sessions ?? []).slice(0, MAX_SESSIONS).map((s) => ({
      name: s.name.slice(0, 64),
      state: s.state.slice(0, 64),
      ...(s.info ? { info: s.info.slice(0, 256) } : {}),
    })),
    advertised: (d?.advertised ?? []).slice(0, MAX_LISTED_PREFIXES),
    advertisedCount: d?.advertised.length ?? 0,
    ...(args.daemonError ? { daemonError: args.daemonError.slice(0, 1024) } : {}),
    updated: args.now.toISOString(),
  };
}

/** Equal apart from the timestamp: used to skip writes that would change nothing. */
export const sameStatus = (a: NodeRoutingStatus | undefined, b: NodeRoutingStatus) =>
  a !== undefined && JSON.stringify({ ...a, updated: '' }) === JSON.stringify({ ...b, updated: '' });

/** The whole NodeRoutingStatus object, as the agent applies it: the apply replaces every field it set
 * before, so a field absent now (a cleared daemonError) disappears. The Node owns it (garbage collection
 * when the Node is deleted); nodeUID is undefined only while the Node could not be read yet. */
export function nodeRoutingStatusObject(
  nodeName: string,
  namespace: string,
  nodeUID: string | undefined,
  status: NodeRoutingStatus,
): Record<string, unknown> {
  const owner = nodeUID && { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUID };
  return {
    apiVersion: API_VERSION,
    kind: NODE_ROUTING_STATUS_KIND,
    metadata: { name: nodeName, namespace, ...(owner ? { ownerReferences: [owner] } : {}) },
    status,
  };
}

/** lastReload after an apply with this result. A repeated outcome keeps its first time, so an unchanged
 * state writes no new status; Unchanged does not hide a previous Applied, but it does replace a
 * Rejected/Failed (the running config is what is asked for again, e.g. after the bad edit was reverted). */
export function nextLastReload(
  previous: NodeRoutingStatus['lastReload'],
  result: ApplyResult,
  now: Date,
): NodeRoutingStatus['lastReload'] {
  const error = result.error?.slice(0, 4000);
  const repeated = previous?.result === result.result && (previous.error ?? '') === (error ?? '');
  const recovered = result.result === 'Unchanged' && reloadRejected(previous?.result);
  if (previous && !recovered && (result.result === 'Unchanged' || repeated)) return previous;
  return { time: now.toISOString(), result: result.result, ...(error ? { error } : {}) };
}
