// Prefix length of a virtual address on kube-lb0 (pure): the `aggregation` of the ServiceGroup pool
// whose subnet contains the address ("default" or empty = the pool's subnet mask, "/N" = N).
import type { AddressPoolSpec, ServiceGroup } from '../api/types.ts';
import { bits, cidrContains, parseCIDR, type IP } from '../api/ip.ts';

function pools(group: ServiceGroup): AddressPoolSpec[] {
  const local = group.spec?.local;
  if (!local) return [];
  const legacy =
    local.subnet && local.pool ? [{ pool: local.pool, subnet: local.subnet, aggregation: local.aggregation }] : [];
  return [
    ...legacy,
    ...[local.v4pool, local.v6pool].filter((p): p is AddressPoolSpec => !!p),
    ...(local.v4pools ?? []),
    ...(local.v6pools ?? []),
  ];
}

/** The aggregation prefix for the address from the named groups, or undefined if no pool's subnet contains it. */
export function aggregationPrefix(address: IP, groups: ServiceGroup[]): number | undefined {
  for (const group of groups) {
    for (const pool of pools(group)) {
      const subnet = parseCIDR(pool.subnet);
      if (!subnet || !cidrContains(subnet, address)) continue;
      const agg = pool.aggregation ?? 'default';
      if (agg === 'default' || agg === '') return subnet.prefix;
      const n = /^\/(0|[1-9][0-9]{0,2})$/.exec(agg);
      return n && Number(n[1]) <= bits(address.family) ? Number(n[1]) : subnet.prefix;
    }
  }
  return undefined;
}

/**
 * Prefix of a virtual address: the groups named by `purelb.io/allocated-from` first, then any group
 * (the annotation may name a group that was renamed), else a host route (/32, /128), which announces
 * exactly the address and nothing more.
 */
export function virtualPrefix(address: IP, allocatedFrom: string[], groups: ServiceGroup[]): number {
  const named = groups.filter((g) => allocatedFrom.includes(g.metadata?.name ?? ''));
  return aggregationPrefix(address, named) ?? aggregationPrefix(address, groups) ?? bits(address.family);
}
