// Which version of each ServiceGroup serves (pure), for the allocator, the agent and `purelb status`. A group whose new spec is invalid, overlaps
// another group, or claims a namespace default another group holds, keeps serving its last valid version; other groups are unaffected. Groups already
// serving win overlaps against changed or new ones, so an edit can never evict an established pool.
import type { KubernetesObject } from '@kubernetes/client-node';
import { defaultClash, defaultClashMessage } from '../api/servicegroup-scope.ts';
import {
  findOverlap,
  overlapMessage,
  parseServiceGroup,
  type ServiceGroupConfig,
} from '../api/validate-servicegroup.ts';
import { describeObject, type Problem } from '../api/validation.ts';
import type { IP } from '../api/ip.ts';
import { anySelectorMatches, selectorText, type Labels } from './node-selector.ts';

export interface ServedGroup {
  config: ServiceGroupConfig;
  uid: string;
  generation: number;
}

export interface GroupVerdict {
  name: string;
  /** Problems of the current spec (empty when it serves). */
  problems: Problem[];
  /** The version that serves: the current spec, the last valid one, or none. */
  serving: ServedGroup | undefined;
  /** True when the current spec itself serves. */
  current: boolean;
}

const gen = (o: KubernetesObject) => o.metadata?.generation ?? 0;
// custom objects arrive untyped: creationTimestamp is an RFC 3339 string there, a Date in typed models
const created = (o: KubernetesObject) => new Date(o.metadata?.creationTimestamp ?? 0).getTime();

export function resolveGroups(
  objs: readonly KubernetesObject[],
  previous: ReadonlyMap<string, ServedGroup>,
): GroupVerdict[] {
  const unchanged = (o: KubernetesObject) => {
    const p = previous.get(o.metadata?.name ?? '');
    return !!p && p.uid === o.metadata?.uid && p.generation === gen(o);
  };
  const ordered = [...objs].sort(
    (a, b) =>
      Number(unchanged(b)) - Number(unchanged(a)) ||
      created(a) - created(b) ||
      (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
  // a group's last valid version (same object) still holds its place until the group is decided
  const incumbent = new Map<string, ServedGroup>();
  for (const o of ordered) {
    const p = previous.get(o.metadata?.name ?? '');
    if (p && p.uid === o.metadata?.uid) incumbent.set(p.config.name, p);
  }
  const accepted = new Map<string, ServedGroup>();
  const verdicts: GroupVerdict[] = [];
  for (const o of ordered) {
    const name = o.metadata?.name ?? '';
    const { config, problems } = parseServiceGroup(o);
    incumbent.delete(name);
    if (config) {
      for (const other of [...accepted.values(), ...incumbent.values()]) {
        const overlap = findOverlap(other.config.ranges, config.ranges);
        if (overlap) {
          problems.push({
            object: describeObject('ServiceGroup', config.namespace, name),
            field: `${overlap[1].field}.pool`,
            message: overlapMessage(
              overlap[0],
              overlap[1],
              describeObject('ServiceGroup', other.config.namespace, other.config.name),
            ),
          });
          break;
        }
        const clash = defaultClash(other.config.tenancy, config.tenancy);
        if (clash) {
          problems.push({
            object: describeObject('ServiceGroup', config.namespace, name),
            field: 'spec.serviceAllocation.namespaceDefault',
            message: defaultClashMessage(
              clash,
              describeObject('ServiceGroup', other.config.namespace, other.config.name),
            ),
          });
          break;
        }
      }
    }
    const fresh =
      config && problems.length === 0 ? { config, uid: o.metadata?.uid ?? '', generation: gen(o) } : undefined;
    const last = previous.get(name);
    const serving = fresh ?? (last && last.uid === o.metadata?.uid ? last : undefined);
    if (serving) accepted.set(name, serving);
    verdicts.push({ name, problems, serving, current: !!fresh });
  }
  return verdicts;
}

/**
 * The groups that serve, remembered across calls like the allocator does, so that a component reading
 * ServiceGroups (the agent for aggregation prefixes, `purelb status`) uses exactly the allocator's view:
 * an invalid edit keeps the last valid version, an overlapping or never-valid group serves nothing.
 */
export class ServingGroups {
  #served = new Map<string, ServedGroup>();

  update(objs: readonly KubernetesObject[]): ServiceGroupConfig[] {
    const verdicts = resolveGroups(objs, this.#served);
    this.#served = new Map(verdicts.flatMap((v) => (v.serving ? [[v.name, v.serving] as const] : [])));
    return [...this.#served.values()].map((s) => s.config);
  }
}

/**
 * The group an address was allocated from: a group named by `purelb.io/allocated-from` whose pool holds
 * it, else any group whose pool holds it (the group may have been renamed), else undefined (its group is
 * gone: the address is then announced as if the group had no node selectors).
 */
export function groupOfAddress(
  address: IP,
  allocatedFrom: readonly string[],
  groups: readonly ServiceGroupConfig[],
): ServiceGroupConfig | undefined {
  const holds = (g: ServiceGroupConfig) =>
    g.ranges.some((r) => r.family === address.family && r.first <= address.value && address.value <= r.last);
  return groups.find((g) => allocatedFrom.includes(g.name) && holds(g)) ?? groups.find(holds);
}

/** Why the node (with these labels) may not announce the group's addresses, or undefined when the group's nodeSelectors select it. */
export function notSelectedReason(
  node: string,
  labels: Labels,
  group: ServiceGroupConfig | undefined,
): string | undefined {
  if (!group?.nodeSelectors || anySelectorMatches(group.nodeSelectors, labels)) return undefined;
  return `node ${node} is not selected by ServiceGroup ${group.name}'s nodeSelectors ${selectorText(group.nodeSelectors)}`;
}
