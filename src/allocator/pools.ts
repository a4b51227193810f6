// The serving pools of every ServiceGroup with their free addresses (pure). Groups never overlap (the
// validator guarantees it), so an address belongs to at most one range of one group.
import type { Family, IP } from '../api/ip.ts';
import { rangeSize, type PoolRange, type ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { FreeSet } from './free-set.ts';

export interface RangeState {
  group: string;
  range: PoolRange;
  free: FreeSet;
}

export interface FamilyStats {
  size: bigint;
  free: bigint;
}

export class PoolSet {
  readonly configs: ReadonlyMap<string, ServiceGroupConfig>;
  #byGroup = new Map<string, RangeState[]>();
  // all ranges sorted by (family, first) for binary search by address
  #sorted: RangeState[] = [];

  constructor(configs: Iterable<ServiceGroupConfig>) {
    const map = new Map<string, ServiceGroupConfig>();
    for (const c of configs) {
      map.set(c.name, c);
      const states = c.ranges.map((range) => ({ group: c.name, range, free: new FreeSet(range.first, range.last) }));
      this.#byGroup.set(c.name, states);
      this.#sorted.push(...states);
    }
    this.configs = map;
    this.#sorted.sort((a, b) => a.range.family - b.range.family || (a.range.first < b.range.first ? -1 : 1));
  }

  has(group: string): boolean {
    return this.#byGroup.has(group);
  }

  families(group: string): Family[] {
    const fams = new Set((this.#byGroup.get(group) ?? []).map((r) => r.range.family));
    return ([4, 6] as const).filter((f) => fams.has(f));
  }

  /** The range holding ip, if any: binary search over all ranges. */
  locate(ip: IP): RangeState | undefined {
    let lo = 0;
    let hi = this.#sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.#sorted[mid]!.range;
      if (r.family < ip.family || (r.family === ip.family && r.last < ip.value)) lo = mid + 1;
      else if (r.family > ip.family || r.first > ip.value) hi = mid - 1;
      else return this.#sorted[mid];
    }
    return undefined;
  }

  /** Lowest free address of the group in the family, ranges in declaration order. */
  lowestFree(group: string, family: Family): IP | undefined {
    for (const r of this.#byGroup.get(group) ?? []) {
      if (r.range.family !== family) continue;
      const value = r.free.lowest();
      if (value !== undefined) return { family, value };
    }
    return undefined;
  }

  /** Marks an address used or free in its range; addresses outside every range are ignored. */
  markUsed(ip: IP): void {
    this.locate(ip)?.free.take(ip.value);
  }

  markFree(ip: IP): void {
    this.locate(ip)?.free.give(ip.value);
  }

  stats(group: string): Record<Family, FamilyStats> {
    const out: Record<Family, FamilyStats> = { 4: { size: 0n, free: 0n }, 6: { size: 0n, free: 0n } };
    for (const r of this.#byGroup.get(group) ?? []) {
      out[r.range.family].size += rangeSize(r.range);
      out[r.range.family].free += r.free.freeCount;
    }
    return out;
  }
}
