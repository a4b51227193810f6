// Reads what `purelb status` reports from a cluster: one list call per kind.
import { GROUP, VERSION } from '../api/names.ts';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type V1Node,
} from '@kubernetes/client-node';
import { canonicalIP } from '../api/ip.ts';
import { retryBusy } from '../k8s/api.ts';
import type { ServiceGroup } from '../api/types.ts';
import type { RouterConfigLike, StatusInputs } from './report.ts';

async function listCustom<T>(kc: KubeConfig, plural: string, namespace: string): Promise<T[]> {
  try {
    const res = await retryBusy(() =>
      kc
        .makeApiClient(CustomObjectsApi)
        .listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural }),
    );
    return (res as { items: T[] }).items;
  } catch (err) {
    // a cluster without that CRD (e.g. no RouterConfig installed) has nothing to report for it
    if ((err as { code?: number }).code === 404) return [];
    throw err;
  }
}

export async function readStatusInputs(kc: KubeConfig, namespace: string): Promise<Omit<StatusInputs, 'upstream'>> {
  const core = kc.makeApiClient(CoreV1Api);
  const [services, serviceGroups, leases, routerConfigs, endpointSlices] = await Promise.all([
    core.listServiceForAllNamespaces().then((l) => l.items),
    listCustom<ServiceGroup>(kc, 'servicegroups', namespace),
    kc
      .makeApiClient(CoordinationV1Api)
      .listNamespacedLease({ namespace })
      .then((l) => l.items),
    listCustom<RouterConfigLike>(kc, 'routerconfigs', namespace),
    kc
      .makeApiClient(DiscoveryV1Api)
      .listEndpointSliceForAllNamespaces()
      .then((l) => l.items),
  ]);
  return { now: new Date(), namespace, services, serviceGroups, leases, routerConfigs, endpointSlices };
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

export async function readNodesByIP(kc: KubeConfig): Promise<Record<string, string>> {
  return nodesByIP((await kc.makeApiClient(CoreV1Api).listNode()).items);
}
