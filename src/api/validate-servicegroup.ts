// ServiceGroup validation and parsing into normalised pools (pure). PureLB v1 syntax: a pool is a CIDR
// that runs from the address AS WRITTEN to the last address of its network, or a literal "from-to" range.
// Stricter than PureLB: literals are parsed strictly, from <= to, one family per pool, aggregation valid
// for the family, and no two pools share an address (within a group and across groups, containment too).
import { bits, cidrContains, formatIP, networkOf, parseCIDR, parseIP, type CIDR, type Family, type IP } from './ip.ts';
import { defaultClash, defaultClashMessage, parseTenancy, type GroupTenancy } from './servicegroup-scope.ts';
import { describeObject, type Problem } from './validation.ts';
import type { LabelSelector } from '../model/node-selector.ts';
import { NODE_SELECTOR_FIELDS, parseNodeSelectors } from './validate-node-selectors.ts';

export interface PoolRange {
  family: Family;
  /** First and last address of the range (inclusive). */
  first: bigint;
  last: bigint;
  subnet: CIDR;
  /** Prefix length of the address on kube-lb0 ("default" = the subnet's prefix). */
  aggregation: number;
  /** Where it was declared, e.g. "spec.local.v4pools[1]"; used in messages. */
  field: string;
  /** The pool as written. */
  text: string;
}

export interface ServiceGroupConfig {
  name: string;
  namespace?: string;
  /** Declaration order per family: vNpools in list order, then vNpool, then the legacy subnet/pool. */
  ranges: PoolRange[];
  /** Nodes that may announce the group's addresses (any selector matches); undefined = every node. */
  nodeSelectors?: LabelSelector[];
  /** Nodes preferred when a local address of the group gets a new owner; undefined = no preference. */
  preferredNodeSelectors?: LabelSelector[];
  /** spec.autoAssign and spec.serviceAllocation (servicegroup-scope.ts). */
  tenancy: GroupTenancy;
}

export interface ParsedServiceGroup {
  config: ServiceGroupConfig | undefined;
  problems: Problem[];
}

const ADDRESS_HINT =
  'IPv4 as four decimal octets without leading zeros (e.g. 192.168.10.240), IPv6 without a zone (e.g. fd00:1::10)';
const POOL_KEYS = ['pool', 'subnet', 'aggregation'];
const LOCAL_KEYS = ['subnet', 'pool', 'aggregation', 'v4pool', 'v6pool', 'v4pools', 'v6pools'];
const SPEC_KEYS = ['local', 'netbox', 'autoAssign', 'serviceAllocation', ...NODE_SELECTOR_FIELDS];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const rangeText = (r: { family: Family; first: bigint; last: bigint }) =>
  `${formatIP({ family: r.family, value: r.first })}-${formatIP({ family: r.family, value: r.last })}`;

export const rangeSize = (r: { first: bigint; last: bigint }) => r.last - r.first + 1n;

/** Reports keys the API server would silently prune (e.g. "v4Pool" from a stale migration script). */
function unknownKeys(
  obj: Record<string, unknown>,
  known: string[],
  at: string,
  report: (field: string, msg: string) => void,
) {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    report(
      `${at}.${key}`,
      `unknown field${near ? `; did you mean "${near}"?` : `; known fields are ${known.join(', ')}`} (the API server would drop it silently)`,
    );
  }
}

function parseAddress(
  text: string,
  field: string,
  what: string,
  report: (field: string, msg: string) => void,
): IP | undefined {
  const ip = parseIP(text);
  if (!ip) report(field, `${what} ${JSON.stringify(text)} is not an IP address; write ${ADDRESS_HINT}`);
  return ip;
}

/** Parses a pool string: CIDR (from the address as written to the end of its network) or "from-to". */
export function parsePool(
  text: string,
  field: string,
  report: (field: string, msg: string) => void,
): { family: Family; first: bigint; last: bigint } | undefined {
  if (text.includes('/')) {
    const c = parseCIDR(text.trim());
    if (!c) {
      report(
        field,
        `${JSON.stringify(text)} is not a CIDR; write address/prefix with ${ADDRESS_HINT} and a prefix of 0-32 (IPv4) or 0-128 (IPv6)`,
      );
      return undefined;
    }
    return { family: c.ip.family, first: c.ip.value, last: networkOf(c).last };
  }
  const parts = text.split('-');
  if (parts.length !== 2) {
    report(
      field,
      `${JSON.stringify(text)} is neither a CIDR nor a range; write "from-to" (e.g. 192.168.10.240-192.168.10.243) or a CIDR (e.g. 192.168.10.240/30)`,
    );
    return undefined;
  }
  const from = parseAddress(parts[0]!.trim(), field, 'range start', report);
  const to = parseAddress(parts[1]!.trim(), field, 'range end', report);
  if (!from || !to) return undefined;
  if (from.family !== to.family) {
    report(
      field,
      `range ${JSON.stringify(text)} mixes IPv${from.family} and IPv${to.family}; both ends must be of one family (use v4pools and v6pools for dual stack)`,
    );
    return undefined;
  }
  if (from.value > to.value) {
    report(field, `range start ${formatIP(from)} is after its end ${formatIP(to)}; write "from-to" with from <= to`);
    return undefined;
  }
  return { family: from.family, first: from.value, last: to.value };
}

function parseAggregation(
  value: unknown,
  subnet: CIDR,
  field: string,
  report: (field: string, msg: string) => void,
): number | undefined {
  if (value === undefined || value === '' || value === 'default') return subnet.prefix;
  const max = bits(subnet.ip.family);
  const m = typeof value === 'string' ? /^\/(0|[1-9][0-9]{0,2})$/.exec(value) : null;
  if (!m || Number(m[1]) > max) {
    report(
      field,
      `aggregation ${JSON.stringify(value)} is not valid for IPv${subnet.ip.family}; use "default" (the subnet's prefix) or /0../${max}`,
    );
    return undefined;
  }
  return Number(m[1]);
}

/** One {pool, subnet, aggregation}; `family` is set for v4pool(s)/v6pool(s). */
function parseEntry(
  entry: unknown,
  field: string,
  family: Family | undefined,
  report: (field: string, msg: string) => void,
): PoolRange | undefined {
  if (!isRecord(entry)) {
    report(field, 'must be an object {pool, subnet, aggregation}');
    return undefined;
  }
  unknownKeys(entry, POOL_KEYS, field, report);
  const { pool, subnet: subnetText, aggregation } = entry;
  let ok = true;
  for (const [key, value] of [
    ['pool', pool],
    ['subnet', subnetText],
  ] as const) {
    if (typeof value !== 'string' || value === '') {
      report(
        `${field}.${key}`,
        `is required and must be a string, e.g. ${key === 'pool' ? '"192.168.10.240-192.168.10.243"' : '"192.168.10.0/24"'}`,
      );
      ok = false;
    }
  }
  if (aggregation !== undefined && typeof aggregation !== 'string') {
    report(`${field}.aggregation`, 'must be a string: "default" or "/N"');
    ok = false;
  }
  if (!ok) return undefined;
  const subnet = parseCIDR((subnetText as string).trim());
  if (!subnet) {
    report(
      `${field}.subnet`,
      `${JSON.stringify(subnetText)} is not a CIDR; write e.g. 192.168.10.0/24 or fd00:1::/64 (${ADDRESS_HINT})`,
    );
  }
  const range = parsePool(pool as string, `${field}.pool`, report);
  if (!subnet || !range) return undefined;
  if (family && subnet.ip.family !== family) {
    report(
      `${field}.subnet`,
      `${subnetText as string} is IPv${subnet.ip.family} but this is a v${family}pool; move the entry to v${subnet.ip.family === 4 ? '4' : '6'}pools`,
    );
    return undefined;
  }
  if (range.family !== subnet.ip.family) {
    report(
      `${field}.pool`,
      `pool ${pool as string} is IPv${range.family} but subnet ${subnetText as string} is IPv${subnet.ip.family}; pool and subnet must be of one family`,
    );
    return undefined;
  }
  const firstIP = { family: range.family, value: range.first };
  const lastIP = { family: range.family, value: range.last };
  if (!cidrContains(subnet, firstIP) || !cidrContains(subnet, lastIP)) {
    report(
      `${field}.pool`,
      `pool ${pool as string} (${rangeText(range)}) is not inside subnet ${subnetText as string}; shrink the pool or widen the subnet`,
    );
    return undefined;
  }
  const agg = parseAggregation(aggregation, subnet, `${field}.aggregation`, report);
  if (agg === undefined) return undefined;
  return { ...range, subnet, aggregation: agg, field, text: pool as string };
}

/** The first pair (a from `as`, b from `bs`) of ranges that share an address; O(n log n). */
export function findOverlap(
  as: readonly PoolRange[],
  bs: readonly PoolRange[] = as,
): [PoolRange, PoolRange] | undefined {
  const tagged = [...as.map((r) => ({ r, side: 0 })), ...(bs === as ? [] : bs.map((r) => ({ r, side: 1 })))];
  tagged.sort((x, y) => x.r.family - y.r.family || (x.r.first < y.r.first ? -1 : x.r.first > y.r.first ? 1 : 0));
  // per side, the range reaching furthest so far in the current family: containment is caught too
  let reach: Array<PoolRange | undefined> = [undefined, undefined];
  let family: Family | undefined;
  for (const { r, side } of tagged) {
    if (r.family !== family) {
      family = r.family;
      reach = [undefined, undefined];
    }
    const other = bs === as ? reach[0] : reach[1 - side];
    if (other && other.last >= r.first) return side === 0 && bs !== as ? [r, other] : [other, r];
    if (!reach[side] || reach[side].last < r.last) reach[side] = r;
  }
  return undefined;
}

/** "10.0.0.0/30 (10.0.0.0-10.0.0.3)", or just the range when that is how it was written. */
const poolText = (r: PoolRange) => (r.text.includes('/') ? `${r.text} (${rangeText(r)})` : rangeText(r));

export const overlapMessage = (a: PoolRange, b: PoolRange, aOwner = 'this group') =>
  `pool ${poolText(b)} overlaps ${poolText(a)} at ${a.field} of ${aOwner}; pools must not share addresses (split or shrink one)`;

/** Parses a ServiceGroup into its normalised pools; config is undefined when there is any problem. */
// eslint-disable-next-line max-lines-per-function -- one pass over the spec: every field is read, checked and reported where it is, in field order
export function parseServiceGroup(obj: unknown): ParsedServiceGroup {
  const o = isRecord(obj) ? obj : {};
  const meta = isRecord(o.metadata) ? o.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : undefined;
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  const object = describeObject('ServiceGroup', namespace, name);
  const problems: Problem[] = [];
  const report = (field: string, message: string) => void problems.push({ object, field, message });

  if (!name) report('metadata.name', 'is required');
  const spec = o.spec;
  if (!isRecord(spec)) {
    report('spec', 'is required and must set local (address pools)');
    return { config: undefined, problems };
  }
  unknownKeys(spec, SPEC_KEYS, 'spec', report);
  const tenancy = parseTenancy(spec, name, report);
  if (spec.netbox !== undefined) report('spec.netbox', 'Netbox IPAM is not supported; use spec.local pools');
  const local = spec.local;
  if (!isRecord(local)) {
    if (spec.netbox === undefined)
      report('spec.local', 'is required: set v4pools/v6pools (or v4pool, v6pool, or subnet+pool)');
    return { config: undefined, problems };
  }
  unknownKeys(local, LOCAL_KEYS, 'spec.local', report);

  const ranges: PoolRange[] = [];
  const add = (r: PoolRange | undefined) => void (r && ranges.push(r));
  for (const family of [4, 6] as const) {
    const listKey = `v${family}pools`;
    const list = local[listKey];
    if (list !== undefined && !Array.isArray(list))
      report(`spec.local.${listKey}`, 'must be a list of {pool, subnet, aggregation}');
    if (Array.isArray(list)) list.forEach((e, i) => add(parseEntry(e, `spec.local.${listKey}[${i}]`, family, report)));
    const single = local[`v${family}pool`];
    if (single !== undefined) add(parseEntry(single, `spec.local.v${family}pool`, family, report));
  }
  if ((local.subnet === undefined) !== (local.pool === undefined)) {
    report(
      local.subnet === undefined ? 'spec.local.subnet' : 'spec.local.pool',
      'spec.local.subnet and spec.local.pool (the legacy single-family form) must be set together',
    );
  } else if (local.subnet !== undefined) {
    add(
      parseEntry(
        { subnet: local.subnet, pool: local.pool, aggregation: local.aggregation },
        'spec.local',
        undefined,
        report,
      ),
    );
  } else if (local.aggregation !== undefined) {
    report(
      'spec.local.aggregation',
      'applies only to the legacy spec.local.subnet/pool form; set aggregation inside each v4pools/v6pools entry',
    );
  }
  // stable sort by family keeps declaration order within each family
  ranges.sort((a, b) => a.family - b.family);
  const declared = ['v4pools', 'v6pools', 'v4pool', 'v6pool', 'subnet'].some(
    (k) => local[k] !== undefined && !(Array.isArray(local[k]) && (local[k] as unknown[]).length === 0),
  );
  if (!declared) report('spec.local', 'has no pools: set v4pools/v6pools (or v4pool, v6pool, or subnet+pool)');
  const overlap = findOverlap(ranges);
  if (overlap) {
    const [a, b] = overlap;
    report(`${b.field}.pool`, overlapMessage(a, b));
  }
  const nodeSelectors = parseNodeSelectors(spec.nodeSelectors, 'spec.nodeSelectors', report);
  const preferredNodeSelectors = parseNodeSelectors(spec.preferredNodeSelectors, 'spec.preferredNodeSelectors', report);
  const config: ServiceGroupConfig | undefined =
    problems.length === 0 && name && tenancy
      ? {
          name,
          namespace,
          ranges,
          tenancy,
          ...(nodeSelectors ? { nodeSelectors } : {}),
          ...(preferredNodeSelectors ? { preferredNodeSelectors } : {}),
        }
      : undefined;
  return { config, problems };
}

export const validateServiceGroup = (obj: unknown): Problem[] => parseServiceGroup(obj).problems;

/**
 * Problems between groups, in the given order: a later group whose pools overlap an earlier group's
 * (containment included), that claims a namespace default an earlier group claims, or that repeats an
 * earlier group's name is reported. Groups are referenced
 * by bare name from Services (purelb.io/service-group), so a name must be unique across namespaces.
 */
export function serviceGroupSetProblems(groups: readonly ServiceGroupConfig[]): Problem[] {
  const problems: Problem[] = [];
  groups.forEach((g, i) => {
    const object = describeObject('ServiceGroup', g.namespace, g.name);
    for (const earlier of groups.slice(0, i)) {
      const earlierName = describeObject('ServiceGroup', earlier.namespace, earlier.name);
      if (earlier.name === g.name) {
        problems.push({
          object,
          field: 'metadata.name',
          message: `duplicate ServiceGroup name "${g.name}" (also ${earlierName}); Services select groups by name, so rename one`,
        });
        return;
      }
      const overlap = findOverlap(earlier.ranges, g.ranges);
      if (overlap) {
        const [a, b] = overlap;
        problems.push({ object, field: `${b.field}.pool`, message: overlapMessage(a, b, earlierName) });
        return;
      }
      const clash = defaultClash(earlier.tenancy, g.tenancy);
      if (clash) {
        const field = 'spec.serviceAllocation.namespaceDefault';
        problems.push({ object, field, message: defaultClashMessage(clash, earlierName) });
        return;
      }
    }
  });
  return problems;
}
