// The status the allocator writes on a ServiceGroup (pure): address counts per family of the serving
// version, a Valid condition, and an AddressesOutsidePools condition listing addresses kept after a
// pool edit left them outside every pool.
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

function outsideCondition(
  outside: ReadonlyArray<{ service: string; address: string }>,
): Omit<Condition, 'lastTransitionTime'> {
  if (outside.length === 0) {
    return {
      type: 'AddressesOutsidePools',
      status: 'False',
      reason: 'AllInPools',
      message: 'every allocated address is inside a pool',
    };
  }
  const listed = outside
    .slice(0, LISTED)
    .map((o) => `${o.service} ${o.address}`)
    .join(', ');
  const more = outside.length > LISTED ? ` and ${outside.length - LISTED} more` : '';
  return {
    type: 'AddressesOutsidePools',
    status: 'True',
    reason: 'AddressesOutsidePools',
    message: `kept outside every pool after a pool edit: ${listed}${more}; they stay until their Services are deleted or re-requested`,
  };
}

/** Conditions keep their lastTransitionTime while their status does not change. */
export function groupStatus(
  v: GroupVerdict,
  stats: Record<4 | 6, FamilyStats>,
  outside: ReadonlyArray<{ service: string; address: string }>,
  generation: number,
  previous: readonly Condition[] = [],
  now = new Date(),
): GroupStatus {
  const conditions = [validCondition(v), outsideCondition(outside)].map((c) => {
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
