// The allocator's cluster port: the caches it reads and the few writes it makes. The controller
// sees only this interface; `kubeAllocatorCluster` puts the real apiserver behind it, and the unit
// tests an in-memory one, so the controller's ordering and fencing are tested without an apiserver.
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Lease,
  type V1Service,
} from '@kubernetes/client-node';
import { leaseWatches } from '../agent/segment-leases.ts';
import { HEARTBEAT_LABEL } from '../model/heartbeat.ts';
import { ALLOCATOR_COMPONENT, GROUP, VERSION } from '../api/names.ts';
import type { ServiceGroup } from '../api/types.ts';
import { createEventRecorder, type EventRecorder } from '../k8s/events.ts';
import { listAll, watchCache, type ListPage, type WatchedCache } from '../k8s/informer.ts';
import { dropBookkeeping, slimEndpointSlice } from '../k8s/trim.ts';
import { metadataOnly } from '../k8s/metadata-only.ts';
import { mergePatch, patchServiceAnnotations } from '../k8s/patch.ts';
import type { Logger } from '../log.ts';
import type { GroupStatus } from './group-status.ts';

/** What a merge patch of services/status carries: the addresses, and our annotations with them. */
export interface ServiceStatusPatch {
  metadata: { annotations: Record<string, string | null> };
  status: { loadBalancer: { ingress: Array<{ ip: string }> } };
}

export interface AllocatorCluster {
  /** Services (all namespaces or one), watched on standby too. */
  services: WatchedCache<V1Service>;
  /** ServiceGroups of the install namespace. */
  groups: WatchedCache<ServiceGroup>;
  /** Every node agent's heartbeat Lease in the install namespace (the NoEligibleNode report). */
  leases: WatchedCache<V1Lease>;
  /** EndpointSlices of the watched Services' namespaces, slimmed to nodes and conditions (ETP Local). */
  endpointSlices: WatchedCache<V1EndpointSlice>;
  /**
   * Namespaces' metadata (for spec.serviceAllocation.namespaceSelectors), started on first call: a
   * cluster whose groups select no namespaces by label never watches them.
   */
  namespaces(): WatchedCache<KubernetesObject>;
  /** One consistent LIST of Services (the takeover reads the previous leader's last writes). */
  listServices(): Promise<V1Service[]>;
  /** Merge patch of services/status; the subresource also accepts metadata on current apiservers. */
  patchServiceStatus(namespace: string, name: string, patch: ServiceStatusPatch): Promise<V1Service>;
  /** Merge patch of annotations on the Service itself (null removes one). */
  patchServiceAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<V1Service>;
  /** Merge patch of servicegroups/status in the install namespace. */
  patchGroupStatus(name: string, status: GroupStatus): Promise<void>;
  /** De-duplicated Kubernetes events (best effort, never throws). */
  events: EventRecorder;
  /** Stops every watch the port started (the Namespace watch too, if it was started). */
  stop(): Promise<void>;
}

const SG_PLURAL = 'servicegroups';

/** The port on a real apiserver: watch caches, the LIST, merge patches and events.k8s.io events. */
export function kubeAllocatorCluster(
  kc: KubeConfig,
  namespace: string,
  log: Logger,
  serviceNamespace?: string,
): AllocatorCluster {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const sg = { group: GROUP, version: VERSION, namespace, plural: SG_PLURAL };
  const listServices = (page?: ListPage) =>
    serviceNamespace
      ? core.listNamespacedService({ namespace: serviceNamespace, ...page })
      : core.listServiceForAllNamespaces(page);
  const listGroups = () =>
    custom.listNamespacedCustomObject(sg) as Promise<{
      items: ServiceGroup[];
      metadata?: { resourceVersion?: string };
    }>;
  let namespaces: WatchedCache<KubernetesObject> | undefined;
  const watchNamespaces = () => {
    const meta = metadataOnly(kc);
    const api = meta.makeApiClient(CoreV1Api);
    return watchCache<KubernetesObject>(meta, '/api/v1/namespaces', () => api.listNamespace(), log);
  };
  const listSlices = (page: ListPage) =>
    serviceNamespace
      ? discovery.listNamespacedEndpointSlice({ namespace: serviceNamespace, ...page })
      : discovery.listEndpointSliceForAllNamespaces(page);
  const svcPath = serviceNamespace ? `/api/v1/namespaces/${serviceNamespace}/services` : '/api/v1/services';
  const services = watchCache<V1Service>(kc, svcPath, listServices, log, { trim: dropBookkeeping });
  const groups = watchCache<ServiceGroup>(
    kc,
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${SG_PLURAL}`,
    listGroups,
    log,
  );
  // every node's heartbeat, not one segment's: the NoEligibleNode report needs the whole cluster
  const leases = leaseWatches(kc, namespace, log)(`${HEARTBEAT_LABEL}=node`);
  const slicePath = serviceNamespace
    ? `/apis/discovery.k8s.io/v1/namespaces/${serviceNamespace}/endpointslices`
    : '/apis/discovery.k8s.io/v1/endpointslices';
  const endpointSlices = watchCache<V1EndpointSlice>(kc, slicePath, listSlices, log, { trim: slimEndpointSlice });
  return {
    services,
    groups,
    leases,
    endpointSlices,
    namespaces: () => (namespaces ??= watchNamespaces()),
    listServices: async () => (await listAll(listServices, dropBookkeeping)).items,
    patchServiceStatus: (ns, name, body) =>
      core.patchNamespacedServiceStatus({ name, namespace: ns, body }, mergePatch),
    patchServiceAnnotations: (ns, name, annotations) => patchServiceAnnotations(core, ns, name, annotations),
    patchGroupStatus: async (name, status) => {
      await custom.patchNamespacedCustomObjectStatus({ ...sg, name, body: { status } }, mergePatch);
    },
    events: createEventRecorder(kc, ALLOCATOR_COMPONENT, log),
    stop: async () => {
      const started = [services, groups, leases, endpointSlices, ...(namespaces ? [namespaces] : [])];
      await Promise.all(started.map((c) => c.stop()));
    },
  };
}
