// The one interface the routing controller uses for every daemon. BIRD and FRR learn the virtual
// addresses from the kernel (kube-lb0), so only their configuration passes through here; GoBGP has no
// kernel view and gets every address as AddPath/DeletePath.
import { bits, formatIP, parseCIDR } from '../api/ip.ts';
import type { Daemon } from '../api/validate-routerconfig.ts';
import type { NodeRoutingInput } from './render.ts';

export type ReloadResult = 'Applied' | 'Unchanged' | 'Rejected' | 'Failed';

export interface ApplyResult {
  result: ReloadResult;
  /** Hash of the configuration that is running after this call (the previous one when not Applied). */
  hash?: string;
  /** Why the new configuration was not applied (daemon's own message). */
  error?: string;
}

export interface SessionStatus {
  name: string;
  state: string;
  info?: string;
}

export interface DaemonStatus {
  sessions: SessionStatus[];
  /** Prefixes the daemon advertises (canonical CIDRs, sorted). */
  advertised: string[];
}

export interface RouteAdvertiser {
  readonly daemon: Daemon;
  /** Makes the daemon run the configuration for input; when that fails the previous one keeps running. */
  apply(input: NodeRoutingInput): Promise<ApplyResult>;
  /** The node's virtual addresses as on kube-lb0 (e.g. "10.96.0.10/32"); ignored by kernel-learning daemons. */
  setAddresses(cidrs: string[]): Promise<void>;
  status(): Promise<DaemonStatus>;
  close(): Promise<void>;
}

/** Host routes only, canonical and sorted: the daemons' filters advertise /32 and /128, so status and
 * GoBGP do the same. Anything else (including text that is not a CIDR) is dropped. */
export function hostPrefixes(cidrs: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const text of cidrs) {
    const c = parseCIDR(text);
    if (c && c.prefix === bits(c.ip.family)) out.add(`${formatIP(c.ip)}/${c.prefix}`);
  }
  return [...out].sort();
}
