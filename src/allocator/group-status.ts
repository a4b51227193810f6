// The status the allocator writes on a ServiceGroup (pure): address counts per family of the serving
// version, a Valid condition, an AddressesOutsidePools condition listing addresses kept after a pool
// edit left them outside every pool, and a HoldersOutOfScope condition listing Services that keep an
// address after spec.serviceAllocation was narrowed to exclude them.
import type { Condition, ServiceGroup } from '../api/types.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { formatProblem } from '../api/validation.ts';
import type { GroupVerdict } from '../model/servicegroups.ts';
import type { FamilyStats } from './pools.ts';

export type GroupStatus = NonNullable<ServiceGroup['status']>;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const count = (n: bigint) => Number(n > MAX_SAFE ? MAX_SAFE : n);
const LISTED = 10;

/** e.g. "2 IPv4 and 1 IPv6 pools" */
export const poolSummary = (config: ServiceGroupConfig | undefined) => {
  const pools = config?.ranges ?? [];
  return `${pools.filter((r) => r.family === 4).length} IPv4 and ${pools.filter((r) => r.family === 6).length} IPv6 pools`;
};

function validCondition(v: GroupVerdict): Omit<Condition, 'lastTransitionTime'> {
  const summary = poolSummary(v.serving?.config);
  if (v.current)
    return {
      type: 'Valid',
      status: 'True',
      reason: 'Parsed',
      message: `serving generation ${v.serving!.generation}: ${summary}`,
    };
  const fallback = v.serving
    ? `the last valid version (generation ${v.serving.generation}, ${summary}) keeps serving`
    : 'nothing is allocated from this group until it is fixed';
  return {
    type: 'Valid',
    status: 'False',
    reason: 'ParseFailed',
    message: `${v.problems.map(formatProblem).join('; ')}; ${fallback}`,
  };
}

type Holders = ReadonlyArray<{ service: string; address: string }>;

const listHolders = (holders: Holders) =>
  holders
    .slice(0, LISTED)
    .map((o) => `${o.service} ${o.address}`)
    .join(', ') + (holders.length > LISTED ? ` and ${holders.length - LISTED} more` : '');

function outOfScopeCondition(holders: Holders): Omit<Condition, 'lastTransitionTime'> {
  if (holders.length === 0)
    return {
      type: 'HoldersOutOfScope',
      status: 'False',
      reason: 'AllInScope',
      message: 'every Service holding an address of this group is inside spec.serviceAllocation',
    };
  return {
    type: 'HoldersOutOfScope',
    status: 'True',
    reason: 'HoldersOutOfScope',
    message: `kept although spec.serviceAllocation no longer admits them: ${listHolders(holders)}; they stay until their Services are deleted or re-requested`,
  };
}

function outsideCondition(outside: Holders): Omit<Condition, 'lastTransitionTime'> {
  if (outside.length === 0) {
    return {
      type: 'AddressesOutsidePools',
      status: 'False',
      reason: 'AllInPools',
      message: 'every allocated address is inside a pool',
    };
  }
  return {
    type: 'AddressesOutsidePools',
    status: 'True',
    reason: 'AddressesOutsidePools',
    message: `kept outside every pool after a pool edit: ${listHolders(outside)}; they stay until their Services are deleted or re-requested`,
  };
}

/** Conditions keep their lastTransitionTime while their status does not change. */
export function groupStatus(
  v: GroupVerdict,
  stats: Record<4 | 6, FamilyStats>,
  holders: { outside: Holders; outOfScope: Holders },
  generation: number,
  previous: readonly Condition[] = [],
  now = new Date(),
): GroupStatus {
  const conditions = [
    validCondition(v),
    outsideCondition(holders.outside),
    outOfScopeCondition(holders.outOfScope),
  ].map((c) => {
    const before = previous.find((p) => p.type === c.type);
    const lastTransitionTime =
      before?.status === c.status && before.lastTransitionTime
        ? before.lastTransitionTime
        : now.toISOString().replace(/\.\d+Z$/, 'Z');
    return { ...c, lastTransitionTime, observedGeneration: generation };
  });
  return {
    observedGeneration: generation,
    allocatedIPv4: count(stats[4].size - stats[4].free),
    allocatedIPv6: count(stats[6].size - stats[6].free),
    availableIPv4: count(stats[4].free),
    availableIPv6: count(stats[6].free),
    conditions,
  };
}
