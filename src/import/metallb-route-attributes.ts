// BGPAdvertisement communities and localPref to RouterConfig route attributes (pure). MetalLB sends a
// pool's routes with the communities of every BGPAdvertisement that selects the pool, and their localPref.
// Pools whose merged attributes are equal share one spec.bgp.advertisements entry selecting their
// ServiceGroups. The entries select disjoint groups, so their order does not matter ("first entry wins"
// never has to choose). When every advertised pool has the same standard communities and localPref,
// the shorter config-wide spec.bgp.communities and localPref say the same.
import {
  ADVERTISEMENT_COMMUNITY_PATTERN,
  ADVERTISEMENT_NAME_PATTERN,
  COMMUNITY_PATTERN,
  MAX_ADVERTISEMENTS,
} from '../api/validate-routerconfig.ts';
import type { MappedPool } from './metallb-pools.ts';
import { describeSource, isRecord, type Report, type SourceObject } from './report.ts';

/** Route attributes of one BGPAdvertisement, or of a pool (merged over its advertisements). */
export interface Attributes {
  /** Standard "asn:value" and large "large:global:data1:data2", as a RouterConfig advertisement writes them. */
  communities: string[];
  localPref?: number;
}

/** One spec.bgp.advertisements entry, and the BGPAdvertisements it came from (for the report). */
export interface ImportedAdvertisement {
  name: string;
  serviceGroups: string[];
  /** Absent when only localPref is set (the config-wide communities, none, then apply). */
  communities?: string[];
  localPref?: number;
  from: string[];
}

/** What the RouterConfigs say about route attributes: config-wide values, or entries per group. */
export interface ImportedRoutes {
  communities: string[];
  localPref?: number;
  advertisements: ImportedAdvertisement[];
}

const STANDARD = new RegExp(COMMUNITY_PATTERN);
const ANY_COMMUNITY = new RegExp(ADVERTISEMENT_COMMUNITY_PATTERN);
const NAME = new RegExp(ADVERTISEMENT_NAME_PATTERN);

/** Why a community cannot be written, or undefined when it can. */
function communityProblem(value: string): string | undefined {
  if (!ANY_COMMUNITY.test(value))
    return `${value} is neither a standard community "asn:value" nor a large one "large:global:data1:data2"`;
  const parts = value.split(':').filter((p) => p !== 'large');
  const max = value.startsWith('large:') ? 4294967295 : 65535;
  return parts.some((n) => Number(n) > max) ? `every part of ${value} must be 0..${max}` : undefined;
}

/** Communities of an advertisement, resolving Community aliases; each one that cannot be written is reported. */
function communitiesOf(ad: SourceObject, aliases: readonly SourceObject[], report: Report): string[] {
  const spec = isRecord(ad.spec) ? ad.spec : {};
  const out: string[] = [];
  (Array.isArray(spec.communities) ? spec.communities : []).forEach((c, i) => {
    const at = `spec.communities[${i}]`;
    let value = String(c);
    if (!STANDARD.test(value) && !value.startsWith('large:')) {
      const alias = aliases
        .flatMap((a) =>
          isRecord(a.spec) && Array.isArray(a.spec.communities) ? (a.spec.communities as unknown[]) : [],
        )
        .find((x) => isRecord(x) && x.name === value);
      if (!alias)
        return report.note(
          describeSource(ad),
          at,
          `community alias "${value}" is not defined by a Community in the input; not mapped`,
        );
      value = String((alias as Record<string, unknown>).value);
    }
    const problem = communityProblem(value);
    if (problem) return report.note(describeSource(ad), at, `${problem}; not mapped`);
    if (!out.includes(value)) out.push(value);
  });
  return out;
}

/** The communities (aliases resolved) and localPref one BGPAdvertisement sets. */
export function advertisementAttributes(ad: SourceObject, aliases: readonly SourceObject[], report: Report) {
  const spec = isRecord(ad.spec) ? ad.spec : {};
  const communities = communitiesOf(ad, aliases, report);
  return typeof spec.localPref === 'number' ? { communities, localPref: spec.localPref } : { communities };
}

const isEmpty = (a: Attributes) => a.communities.length === 0 && a.localPref === undefined;
const attributesKey = (a: Attributes) => JSON.stringify([[...a.communities].sort(), a.localPref ?? null]);

/** A pool's BGPAdvertisements with their attributes, in input order. */
export interface PoolAdvertisements {
  pool: MappedPool;
  ads: { source: SourceObject; attributes: Attributes }[];
}

/** The union of the advertisements' communities and their one localPref (a differing one is reported). */
function mergePool({ pool, ads }: PoolAdvertisements, report: Report): Attributes & { from: string[] } {
  const communities: string[] = [];
  let pref: { value: number; from: string } | undefined;
  const from: string[] = [];
  for (const { source, attributes } of ads) {
    if (isEmpty(attributes)) continue;
    from.push(source.metadata?.name ?? '');
    for (const c of attributes.communities) if (!communities.includes(c)) communities.push(c);
    const lp = attributes.localPref;
    if (lp === undefined) continue;
    if (!pref) pref = { value: lp, from: describeSource(source) };
    else if (pref.value !== lp)
      report.note(
        describeSource(source),
        'spec.localPref',
        `${lp} not mapped for pool ${pool.name}: a route carries one LOCAL_PREF, and ${pref.from} gives it ${pref.value}`,
      );
  }
  return { communities, ...(pref ? { localPref: pref.value } : {}), from };
}

/** The entry's name: its BGPAdvertisements' names joined when that is a free DNS label, else "adv-N". */
function entryName(from: readonly string[], index: number, taken: Set<string>): string {
  const joined = from.join('-');
  let name = joined.length <= 63 && NAME.test(joined) && !taken.has(joined) ? joined : `adv-${index + 1}`;
  for (let n = 2; taken.has(name); n++) name = `adv-${index + 1}-${n}`;
  taken.add(name);
  return name;
}

/** Route attributes for the RouterConfigs from the advertised virtual pools. */
export function importedRoutes(advertised: readonly PoolAdvertisements[], report: Report): ImportedRoutes {
  const merged = advertised.map((p) => ({ pool: p.pool, ...mergePool(p, report) }));
  const keys = new Set(merged.map(attributesKey));
  const only = merged[0];
  if (keys.size === 1 && only && !only.communities.some((c) => c.startsWith('large:')))
    return {
      communities: only.communities,
      ...(only.localPref !== undefined ? { localPref: only.localPref } : {}),
      advertisements: [],
    };
  const byKey = new Map<string, typeof merged>();
  for (const m of merged.filter((x) => !isEmpty(x)))
    byKey.set(attributesKey(m), [...(byKey.get(attributesKey(m)) ?? []), m]);
  const taken = new Set<string>();
  const advertisements: ImportedAdvertisement[] = [];
  for (const [i, same] of [...byKey.values()].entries()) {
    const { communities, localPref } = same[0]!;
    if (i >= MAX_ADVERTISEMENTS) {
      for (const { pool } of same)
        report.note(
          describeSource(pool.source),
          'spec',
          `its BGP communities/localPref would need spec.bgp.advertisements entry ${i + 1}, and a RouterConfig has at most ${MAX_ADVERTISEMENTS}; not mapped`,
        );
      continue;
    }
    const from = [...new Set(same.flatMap((m) => m.from))];
    advertisements.push({
      name: entryName(from, i, taken),
      serviceGroups: same.map((m) => m.pool.group),
      ...(communities.length ? { communities } : {}),
      ...(localPref !== undefined ? { localPref } : {}),
      from,
    });
  }
  return { communities: [], advertisements };
}
