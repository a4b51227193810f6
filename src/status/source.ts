// Reads what `purelb status` reports from a cluster: one list call per kind, or (--watch) one watch per kind
// kept in a cache. Both go through the same table of sources, so the two modes read the same objects.
import { GROUP, NODE_ROUTING_STATUS_PLURAL, VERSION } from '../api/names.ts';
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import { canonicalIP } from '../api/ip.ts';
import { retryBusy } from '../k8s/api.ts';
import { listAll, pagedList, watchCache, type PagedList } from '../k8s/informer.ts';
import type { KubeClient } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import type { StatusInputs } from './report.ts';

/** A LIST of custom objects: a cluster without that CRD (e.g. an older release without NodeRoutingStatus)
 * has nothing to report for it, and one whose CRD just appeared answers 429 for a moment. */
const listCustom =
  (kc: KubeClient, path: string): PagedList<KubernetesObject> =>
  async (page) => {
    try {
      return await retryBusy(() => pagedList<KubernetesObject>(kc, path)(page));
    } catch (err) {
      if ((err as { code?: number }).code === 404) return { metadata: {}, items: [] };
      throw err;
    }
  };

/** The inputs of the report that come from the apiserver: their LIST call and their WATCH path. */
export type SourceKey =
  'services' | 'serviceGroups' | 'leases' | 'routingStatuses' | 'endpointSlices' | 'allocationEvents';
interface Source {
  path: string;
  /** Replaces the plain LIST of path (custom objects, see listCustom). */
  list?: PagedList<KubernetesObject>;
  fieldSelector?: string;
}

/** Only the allocator's refusals: why a Service has no address. */
const ALLOCATION_FAILED = 'reason=AllocationFailed';

function sources(kc: KubeClient, namespace: string): Record<SourceKey, Source> {
  const custom = (plural: string): Source => {
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${plural}`;
    return { path, list: listCustom(kc, path) };
  };
  return {
    services: { path: '/api/v1/services' },
    serviceGroups: custom('servicegroups'),
    leases: { path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases` },
    routingStatuses: custom(NODE_ROUTING_STATUS_PLURAL),
    endpointSlices: { path: '/apis/discovery.k8s.io/v1/endpointslices' },
    allocationEvents: { path: '/apis/events.k8s.io/v1/events', fieldSelector: ALLOCATION_FAILED },
  };
}

/** The LIST a source's cache makes, and readStatusInputs too. */
const listOf = (kc: KubeClient, s: Source): PagedList<KubernetesObject> =>
  s.list ?? pagedList(kc, s.path, s.fieldSelector ? { fieldSelector: s.fieldSelector } : {});

type ClusterInputs = Omit<StatusInputs, 'upstream'>;

function inputsFrom(namespace: string, items: Record<SourceKey, readonly KubernetesObject[]>): ClusterInputs {
  // the report reads these kinds' fields; the lists hold exactly those kinds
  return { now: new Date(), namespace, ...(items as unknown as Omit<ClusterInputs, 'now' | 'namespace'>) };
}

export async function readStatusInputs(kc: KubeClient, namespace: string): Promise<ClusterInputs> {
  const entries = await Promise.all(
    Object.entries(sources(kc, namespace)).map(
      async ([key, s]) => [key, (await listAll(listOf(kc, s))).items] as const,
    ),
  );
  return inputsFrom(namespace, Object.fromEntries(entries) as Record<SourceKey, KubernetesObject[]>);
}

export interface StatusWatch {
  /** Resolves once every kind has been listed. */
  synced: Promise<void>;
  /** The current inputs, from the watch caches (`now` is the time of the call). */
  inputs(): ClusterInputs;
  /** Called after any object of a kind changed, and after every (re)list of it. */
  onChange(handler: (key: SourceKey, kind: 'add' | 'update' | 'delete' | 'relist') => void): void;
  stop(): Promise<void>;
}

/** One watch per kind (restarting on errors, which go to `log`), the same objects readStatusInputs lists. */
export function watchStatusInputs(kc: KubeClient, namespace: string, log: Logger): StatusWatch {
  const caches = Object.entries(sources(kc, namespace)).map(
    ([key, s]) =>
      [
        key,
        watchCache(kc, s.path, log.child({ watch: key }), {
          list: listOf(kc, s),
          ...(s.fieldSelector ? { fieldSelector: s.fieldSelector } : {}),
        }),
      ] as const,
  );
  const all = caches.map(([, c]) => c);
  return {
    synced: Promise.all(all.map((c) => c.synced)).then(() => undefined),
    inputs: () =>
      inputsFrom(namespace, Object.fromEntries(caches.map(([k, c]) => [k, c.list()])) as Record<SourceKey, []>),
    onChange: (handler) => caches.forEach(([key, c]) => c.onChange((_, kind) => handler(key as SourceKey, kind))),
    stop: async () => void (await Promise.all(all.map((c) => c.stop()))),
  };
}

/** Node InternalIPs -> node name, to show upstream next hops as node names. */
export function nodesByIP(nodes: V1Node[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of nodes) {
    for (const a of n.status?.addresses ?? []) {
      if (a.type === 'InternalIP') out[canonicalIP(a.address) ?? a.address] = n.metadata?.name ?? '';
    }
  }
  return out;
}

export async function readNodesByIP(kc: KubeClient): Promise<Record<string, string>> {
  return nodesByIP((await listAll(pagedList<V1Node>(kc, '/api/v1/nodes'))).items);
}
