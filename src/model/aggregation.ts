// The prefix a virtual address carries on kube-lb0 and is advertised with (pure): the `aggregation` of
// the serving ServiceGroup pool whose subnet contains the address, else a host route. Computed from the
// parsed, validated groups only, so an invalid or overlapping group never sets a prefix on a node.
import { bits, cidrContains, formatIP, networkOf, type IP } from '../api/ip.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';

/** The aggregation prefix for the address from the groups, or undefined if no pool's subnet contains it. */
export function aggregationPrefix(address: IP, groups: readonly ServiceGroupConfig[]): number | undefined {
  for (const group of groups) {
    for (const range of group.ranges) {
      if (range.family === address.family && cidrContains(range.subnet, address)) return range.aggregation;
    }
  }
  return undefined;
}

/**
 * Prefix of a virtual address: the groups named by `purelb.io/allocated-from` first, then any group
 * (the annotation may name a group that was renamed), else a host route (/32, /128), which announces
 * exactly the address and nothing more.
 */
export function virtualPrefix(
  address: IP,
  allocatedFrom: readonly string[],
  groups: readonly ServiceGroupConfig[],
): number {
  const named = groups.filter((g) => allocatedFrom.includes(g.name));
  return aggregationPrefix(address, named) ?? aggregationPrefix(address, groups) ?? bits(address.family);
}

/** The prefix routing advertises for an address placed with `prefix`: its network, canonical ("10.200.0.0/24"). */
export function announcedPrefix(address: IP, prefix: number): string {
  const network = networkOf({ ip: address, prefix });
  return `${formatIP({ family: address.family, value: network.first })}/${prefix}`;
}
