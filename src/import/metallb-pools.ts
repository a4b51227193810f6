// MetalLB IPAddressPools and L2Advertisements to ServiceGroups (pure). A pool range that lies inside a
// node subnet becomes a local pool (subnet = the node subnet); any other range becomes a virtual pool
// with host-route aggregation (/32, /128), the only kind the managed routing daemons advertise.
import { API_VERSION } from '../api/names.ts';
import type { ServiceAllocationSpec, ServiceGroup } from '../api/types.ts';
import { bits, formatIP, networkOf, parseCIDR, parseIP, type CIDR, type Family } from '../api/ip.ts';
import { describeSource, isRecord, type Report, type SourceObject } from './report.ts';

/** Prefix lengths assumed for a node subnet derived from a Node's InternalIP (no prefix is recorded there). */
export const NODE_PREFIX: Record<Family, number> = { 4: 24, 6: 64 };

export interface NodeSubnet {
  family: Family;
  first: bigint;
  last: bigint;
  /** Network form, e.g. "192.168.10.0/24". */
  text: string;
}

export interface MappedRange {
  family: Family;
  first: bigint;
  last: bigint;
  pool: string;
  subnet: string;
  local: boolean;
}

export interface MappedPool {
  source: SourceObject;
  name: string;
  /** Name of the ServiceGroup it became ("default" for --default-pool). */
  group: string;
  labels: Record<string, string>;
  ranges: MappedRange[];
}

const subnetOf = (c: CIDR): NodeSubnet => {
  const { first, last } = networkOf(c);
  return { family: c.ip.family, first, last, text: `${formatIP({ family: c.ip.family, value: first })}/${c.prefix}` };
};

const contains = (s: NodeSubnet, first: bigint, last: bigint, family: Family) =>
  s.family === family && s.first <= first && last <= s.last;

/**
 * Node subnets: every --node-subnet as given, plus for each Node's InternalIP that none of them holds,
 * the /24 (IPv4) or /64 (IPv6) around it (noted, since a Node object does not record the prefix).
 */
export function nodeSubnets(explicit: readonly CIDR[], nodes: readonly SourceObject[], report: Report): NodeSubnet[] {
  const subnets = explicit.map(subnetOf);
  for (const node of nodes) {
    const addresses = (isRecord(node.status) && Array.isArray(node.status.addresses) ? node.status.addresses : []) as {
      type?: string;
      address?: string;
    }[];
    for (const a of addresses.filter((x) => x.type === 'InternalIP')) {
      const ip = parseIP(a.address ?? '');
      if (!ip || subnets.some((s) => contains(s, ip.value, ip.value, ip.family))) continue;
      const derived = subnetOf({ ip, prefix: NODE_PREFIX[ip.family] });
      subnets.push(derived);
      report.notes.push(
        `node subnet ${derived.text} assumed from ${describeSource(node)} InternalIP ${a.address} (a Node does not record its prefix; give --node-subnet to set it)`,
      );
    }
  }
  return subnets;
}

/** One MetalLB address entry: a CIDR (its whole network, as MetalLB reads it) or "from-to" (blanks allowed). */
function parseEntry(text: string): { family: Family; first: bigint; last: bigint; cidr?: CIDR } | string {
  const t = text.trim();
  if (t.includes('/')) {
    const c = parseCIDR(t);
    if (!c) return `"${text}" is not a CIDR`;
    return { family: c.ip.family, ...networkOf(c), cidr: c };
  }
  const parts = t.split('-').map((p) => p.trim());
  const from = parts.length === 2 ? parseIP(parts[0]!) : undefined;
  const to = parts.length === 2 ? parseIP(parts[1]!) : undefined;
  if (!from || !to) return `"${text}" is neither a CIDR nor a range "from-to"`;
  if (from.family !== to.family) return `range "${text}" mixes IPv4 and IPv6`;
  if (from.value > to.value) return `range "${text}" starts after its end`;
  return { family: from.family, first: from.value, last: to.value };
}

/** The smallest CIDR that holds first..last (the subnet of a virtual pool). */
function enclosingSubnet(family: Family, first: bigint, last: bigint): string {
  let prefix = bits(family);
  while (prefix > 0 && first >> BigInt(bits(family) - prefix) !== last >> BigInt(bits(family) - prefix)) prefix--;
  return subnetOf({ ip: { family, value: first }, prefix }).text;
}

const rangeText = (family: Family, first: bigint, last: bigint) =>
  first === last
    ? `${formatIP({ family, value: first })}/${bits(family)}`
    : `${formatIP({ family, value: first })}-${formatIP({ family, value: last })}`;

/** MetalLB's avoidBuggyIPs: no IPv4 address ending in .0 or .255. Only the ends of a range can be trimmed. */
function avoidBuggy(family: Family, first: bigint, last: bigint, at: string, object: string, report: Report) {
  if (family !== 4) return { first, last };
  let f = first;
  let l = last;
  if ((f & 0xffn) === 0n) f++;
  if ((l & 0xffn) === 0xffn) l--;
  if (f > l) {
    report.note(object, at, 'avoidBuggyIPs leaves no address in this entry; not mapped');
    return undefined;
  }
  if (f >> 8n !== l >> 8n)
    report.note(
      object,
      at,
      `avoidBuggyIPs: the range spans several /24s; its inner .0 and .255 addresses stay in the pool (a ServiceGroup pool is one contiguous range): split the pool to exclude them`,
    );
  return { first: f, last: l };
}

const POOL_SPEC_KEYS = ['addresses', 'autoAssign', 'avoidBuggyIPs', 'serviceAllocation'];
const SCOPE_KEYS = ['namespaces', 'namespaceSelectors', 'serviceSelectors'];

/**
 * autoAssign and serviceAllocation keep their MetalLB names on the ServiceGroup. MetalLB prefers an
 * auto-assign pool whose serviceAllocation lists a Service's namespace; here that is namespaceDefault
 * (one group per namespace: a second pool listing the namespace is reported). priority has no
 * counterpart: a Service gets its namespace's default group, else "default".
 */
function mapTenancy(
  spec: Record<string, unknown>,
  group: string,
  name: string,
  object: string,
  autoAssignedCount: number,
  claimed: Map<string, string>,
  report: Report,
): Pick<NonNullable<ServiceGroup['spec']>, 'autoAssign' | 'serviceAllocation'> {
  const out: Pick<NonNullable<ServiceGroup['spec']>, 'autoAssign' | 'serviceAllocation'> = {};
  const auto = spec.autoAssign !== false;
  if (!auto && group === 'default')
    report.note(
      object,
      'spec.autoAssign',
      'false cannot be kept: the group named "default" serves Services that name no group',
    );
  if (!auto && group !== 'default') out.autoAssign = false;
  const alloc = isRecord(spec.serviceAllocation) ? spec.serviceAllocation : {};
  const scope: ServiceAllocationSpec = {};
  for (const key of Object.keys(alloc)) {
    if (SCOPE_KEYS.includes(key)) (scope as Record<string, unknown>)[key] = alloc[key];
    else
      report.note(
        object,
        `spec.serviceAllocation.${key}`,
        key === 'priority'
          ? 'not mapped: there is no priority among groups; a Service that names no group gets its namespace default group (namespaceDefault), else "default"'
          : 'unknown field; not mapped',
      );
  }
  const namespaces = Array.isArray(scope.namespaces) ? scope.namespaces : [];
  if (auto && group !== 'default' && namespaces.length) {
    const taken = namespaces.filter((n) => claimed.has(n));
    if (taken.length)
      report.note(
        object,
        'spec.serviceAllocation.namespaces',
        `${taken.map((n) => `${n} (already the default of ${claimed.get(n)})`).join(', ')}: a namespace has one default group, so this group is not a namespace default (Services name it with purelb.io/service-group)`,
      );
    else {
      scope.namespaceDefault = true;
      for (const n of namespaces) claimed.set(n, group);
    }
  } else if (auto && group !== 'default')
    report.note(
      object,
      'spec.autoAssign',
      `${spec.autoAssign === undefined ? '(default true) ' : ''}not mapped: unannotated Services get addresses only from the ServiceGroup named "default" or the default group of their namespace (serviceAllocation.namespaces with namespaceDefault); this group serves Services that name it (purelb.io/service-group) or request one of its addresses${autoAssignedCount === 1 ? `; give --default-pool ${name} to name it "default"` : ''}`,
    );
  if (Object.keys(scope).length) out.serviceAllocation = scope;
  return out;
}

export interface PoolOptions {
  namespace: string;
  /** The MetalLB pool whose ServiceGroup is named "default" (the group unannotated Services use). */
  defaultPool?: string;
}

/** IPAddressPools to ServiceGroups; pools that yield no range produce no group. */
// eslint-disable-next-line max-lines-per-function -- one pass over the MetalLB pools: each field is mapped or reported right where it is read
export function mapPools(
  pools: readonly SourceObject[],
  subnets: readonly NodeSubnet[],
  opts: PoolOptions,
  report: Report,
): { groups: ServiceGroup[]; mapped: MappedPool[] } {
  const groups: ServiceGroup[] = [];
  const mapped: MappedPool[] = [];
  const autoAssigned = pools
    .filter((p) => !isRecord(p.spec) || p.spec.autoAssign !== false)
    .map((p) => p.metadata?.name);
  // namespace -> the group that became its default (a namespace has at most one)
  const claimed = new Map<string, string>();
  for (const pool of pools) {
    const object = describeSource(pool);
    const name = pool.metadata?.name ?? '';
    const spec = isRecord(pool.spec) ? pool.spec : {};
    report.unknownFields(object, spec, POOL_SPEC_KEYS, 'spec');
    const group = name === opts.defaultPool ? 'default' : name;
    if (group === 'default' && opts.defaultPool && name !== opts.defaultPool) {
      report.note(
        object,
        'metadata.name',
        `--default-pool ${opts.defaultPool} takes the name "default"; this pool is not mapped (rename it)`,
      );
      continue;
    }
    const ranges: MappedRange[] = [];
    const addresses = Array.isArray(spec.addresses) ? spec.addresses : [];
    if (addresses.length === 0) report.note(object, 'spec.addresses', 'no addresses; not mapped');
    addresses.forEach((entry, i) => {
      const at = `spec.addresses[${i}]`;
      const parsed = typeof entry === 'string' ? parseEntry(entry) : 'must be a string';
      if (typeof parsed === 'string') return report.note(object, at, `${parsed}; not mapped`);
      const { family } = parsed;
      const home = subnets.find((s) => contains(s, parsed.first, parsed.last, family));
      const straddled = subnets.find((s) => s.family === family && s.first <= parsed.last && parsed.first <= s.last);
      if (!home && straddled)
        return report.note(
          object,
          at,
          `${entry} lies partly inside node subnet ${straddled.text}: split it into the part inside (local) and the part outside (virtual); not mapped`,
        );
      const kept =
        spec.avoidBuggyIPs === true ? avoidBuggy(family, parsed.first, parsed.last, at, object, report) : parsed;
      if (!kept) return;
      const { first, last } = kept;
      const pool =
        parsed.cidr && kept.first === parsed.first && kept.last === parsed.last && first !== last
          ? subnetOf(parsed.cidr).text
          : rangeText(family, first, last);
      ranges.push(
        home
          ? { family, first, last, pool, subnet: home.text, local: true }
          : { family, first, last, pool, subnet: enclosingSubnet(family, first, last), local: false },
      );
    });
    const tenancy = mapTenancy(spec, group, name, object, autoAssigned.length, claimed, report);
    if (ranges.length === 0) continue;
    const entry = (r: MappedRange) => ({
      pool: r.pool,
      subnet: r.subnet,
      aggregation: r.local ? 'default' : `/${bits(r.family)}`,
    });
    const v4pools = ranges.filter((r) => r.family === 4).map(entry);
    const v6pools = ranges.filter((r) => r.family === 6).map(entry);
    groups.push({
      apiVersion: API_VERSION,
      kind: 'ServiceGroup',
      metadata: { name: group, namespace: opts.namespace },
      spec: {
        local: { ...(v4pools.length ? { v4pools } : {}), ...(v6pools.length ? { v6pools } : {}) },
        ...tenancy,
      },
    });
    mapped.push({ source: pool, name, group, labels: pool.metadata?.labels ?? {}, ranges });
  }
  return { groups, mapped };
}

/** Each advertisement and the pools it selects, in input order. */
export type Selections = ReadonlyMap<SourceObject, readonly MappedPool[]>;

/** The pools each advertisement selects (a name that is not in the input is reported once, here). */
export const poolSelections = (
  ads: readonly SourceObject[],
  pools: readonly MappedPool[],
  report: Report,
): Selections => new Map(ads.map((ad) => [ad, selectedPools(ad, pools, report)]));

/** Pools an advertisement applies to: by name, by label selector, or all when it names none. */
function selectedPools(ad: SourceObject, pools: readonly MappedPool[], report: Report): MappedPool[] {
  const object = describeSource(ad);
  const spec = isRecord(ad.spec) ? ad.spec : {};
  const names = Array.isArray(spec.ipAddressPools) ? (spec.ipAddressPools as string[]) : [];
  const selectors = Array.isArray(spec.ipAddressPoolSelectors) ? spec.ipAddressPoolSelectors : [];
  if (names.length === 0 && selectors.length === 0) return [...pools];
  const out = new Set<MappedPool>();
  names.forEach((n, i) => {
    const p = pools.find((x) => x.name === n);
    if (p) out.add(p);
    else report.note(object, `spec.ipAddressPools[${i}]`, `pool "${n}" is not in the input (or was not mapped)`);
  });
  selectors.forEach((sel, i) => {
    const at = `spec.ipAddressPoolSelectors[${i}]`;
    if (isRecord(sel) && Array.isArray(sel.matchExpressions) && sel.matchExpressions.length > 0)
      return report.note(object, `${at}.matchExpressions`, 'only matchLabels selectors are resolved; not mapped');
    const labels = (isRecord(sel) && isRecord(sel.matchLabels) ? sel.matchLabels : {}) as Record<string, string>;
    for (const p of pools) if (Object.entries(labels).every(([k, v]) => p.labels[k] === v)) out.add(p);
  });
  return [...out];
}

const L2_SPEC_KEYS = ['ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'interfaces'];

/**
 * L2Advertisements need no object of their own: a local pool is announced with ARP/NDP by the elected
 * node, and their nodeSelectors go to the ServiceGroups (metallb-node-selectors.ts). What is reported is
 * what differs: a pool announced with L2 that did not land on a node subnet, and the interfaces.
 */
export function checkL2(ads: Selections, report: Report): void {
  for (const [ad, selected] of ads) {
    const object = describeSource(ad);
    const spec = isRecord(ad.spec) ? ad.spec : {};
    report.unknownFields(object, spec, L2_SPEC_KEYS, 'spec');
    for (const pool of selected)
      for (const r of pool.ranges.filter((x) => !x.local))
        report.note(
          object,
          'spec',
          `pool ${pool.name} range ${r.pool} is announced with L2 but lies in no known node subnet, so it became a virtual (routed) pool; give --node-subnet with the nodes' LAN to make it local`,
        );
    if (Array.isArray(spec.interfaces) && spec.interfaces.length > 0)
      report.note(
        object,
        'spec.interfaces',
        `not mapped: local addresses go on the LBNodeAgent's localint interface (default: the default-route interface); set localint to a regular expression such as "^(${(spec.interfaces as string[]).join('|')})$"`,
      );
  }
}
