// The one interface the routing controller uses for every daemon. BIRD and FRR learn the virtual
// addresses from the kernel (kube-lb0), so only their configuration passes through here; GoBGP has no
// kernel view and gets every address as AddPath/DeletePath.
import { cidrContains, formatIP, networkOf, parseCIDR } from '../api/ip.ts';
import type { Daemon } from '../api/validate-routerconfig.ts';
import type { AddressServices } from './attributes.ts';
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
  /** The node's virtual addresses as on kube-lb0 (e.g. "10.96.0.10/32") and the Services behind them;
   * ignored by kernel-learning daemons (their configs name the addresses of spec.bgp.advertisements). */
  setAddresses(cidrs: string[], services?: AddressServices): Promise<void>;
  status(): Promise<DaemonStatus>;
  close(): Promise<void>;
}

/** What a node advertises for the addresses on kube-lb0: the network of each address at the prefix
 * length it was placed with (the ServiceGroup's aggregation: /32 and /128 host routes, or an aggregate
 * such as a /24 that several addresses share), canonical, de-duplicated and sorted. IPv6 link-local and
 * anything that is not a CIDR are dropped. The BIRD/FRR filters apply the same rule to kernel routes. */
export function advertisedPrefixes(cidrs: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const text of cidrs) {
    const c = parseCIDR(text);
    if (!c) continue;
    const network = { family: c.ip.family, value: networkOf(c).first };
    if (c.ip.family === 6 && cidrContains(LINK_LOCAL_V6, network)) continue;
    out.add(`${formatIP(network)}/${c.prefix}`);
  }
  return [...out].sort();
}

const LINK_LOCAL_V6 = parseCIDR('fe80::/10')!;
