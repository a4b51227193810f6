// Which BGP attributes each advertised prefix carries (pure): spec.bgp.advertisements select Services by
// labels and/or ServiceGroup, and a prefix takes the attributes of the first entry that selects one of
// the Services behind it (an aggregate such as a /24 can stand for several Services). Every other prefix
// keeps the config-wide spec.bgp.communities and localPref. BIRD and FRR render the result into their
// configs, GoBGP sends it with each path: one rule for all three daemons.
import { selectorMatches } from '../model/label-selector.ts';
import type { BgpAdvertisement, BgpConfig } from '../api/validate-routerconfig.ts';
import type { AddressService } from '../model/services.ts';
import { advertisedPrefixes } from './advertiser.ts';

export type { AddressService };

/** Virtual address exactly as placed on kube-lb0 ("10.96.0.10/32", "10.97.0.5/24") -> Services using it. */
export type AddressServices = Readonly<Record<string, readonly AddressService[]>>;

export interface RouteAttributes {
  /** Standard communities "asn:value". */
  communities: string[];
  /** Large communities "global:data1:data2". */
  largeCommunities: string[];
  localPref?: number;
  /** Extra copies of the local AS in front of the AS path (0: none). */
  asPathPrepend: number;
}

export function advertisementSelects(a: BgpAdvertisement, s: AddressService): boolean {
  if (a.serviceGroups && !s.groups.some((g) => a.serviceGroups!.includes(g))) return false;
  return !a.serviceSelector || selectorMatches(a.serviceSelector, s.labels);
}

/** Advertised prefix -> the advertisement that decides its attributes; prefixes of no entry are absent. */
export function prefixAdvertisements(bgp: BgpConfig, services: AddressServices): Map<string, BgpAdvertisement> {
  const out = new Map<string, { index: number; entry: BgpAdvertisement }>();
  const entries = bgp.advertisements ?? [];
  if (entries.length === 0) return new Map();
  for (const [cidr, users] of Object.entries(services)) {
    const prefix = advertisedPrefixes([cidr])[0];
    if (!prefix) continue;
    const index = entries.findIndex((a) => users.some((s) => advertisementSelects(a, s)));
    const have = out.get(prefix);
    if (index >= 0 && (!have || index < have.index)) out.set(prefix, { index, entry: entries[index]! });
  }
  return new Map([...out].map(([p, { entry }]) => [p, entry]));
}

/** The attributes of a prefix: the entry's fields, each falling back to the config-wide value. */
export function routeAttributes(bgp: BgpConfig, entry?: BgpAdvertisement): RouteAttributes {
  const localPref = entry?.localPref ?? bgp.localPref;
  return {
    communities: entry?.communities ?? bgp.communities,
    largeCommunities: entry?.largeCommunities ?? [],
    ...(localPref !== undefined ? { localPref } : {}),
    asPathPrepend: entry?.asPathPrepend ?? 0,
  };
}

/** Which entry decides which prefix, as stable text: the BIRD/FRR config must be rendered again when it
 * changes ("" when the config has no advertisements). */
export function advertisementsKey(bgp: BgpConfig | undefined, services: AddressServices): string {
  if (!bgp?.advertisements?.length) return '';
  return JSON.stringify([...prefixAdvertisements(bgp, services)].map(([p, a]) => [p, a.name]).sort());
}
