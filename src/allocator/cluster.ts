// The allocator's cluster port: the caches it reads and the few writes it makes. The controller
// sees only this interface; `kubeAllocatorCluster` puts the real apiserver behind it, and the unit
// tests an in-memory one, so the controller's ordering and fencing are tested without an apiserver.
import type { KubernetesObject, V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import { leaseWatches } from '../agent/segment-leases.ts';
import { HEARTBEAT_LABEL } from '../model/heartbeat.ts';
import { ALLOCATOR_COMPONENT, GROUP, VERSION } from '../api/names.ts';
import type { ServiceGroup } from '../api/types.ts';
import { createEventRecorder, type EventRecorder } from '../k8s/events.ts';
import { listAll, pagedList, watchCache, type WatchedCache } from '../k8s/informer.ts';
import { slimEndpointSlice } from '../k8s/trim.ts';
import { slimAllocatorService } from './slim.ts';
import { patchServiceAnnotations, servicePath } from '../k8s/patch.ts';
import type { KubeClient } from '../k8s/rest.ts';
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
  kc: KubeClient,
  namespace: string,
  log: Logger,
  serviceNamespace?: string,
): AllocatorCluster {
  // cluster-wide, or only the namespace of --service-namespace
  const scoped = (group: string, plural: string) =>
    `${group}${serviceNamespace ? `/namespaces/${serviceNamespace}` : ''}/${plural}`;
  const svcPath = scoped('/api/v1', 'services');
  const groupsPath = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${SG_PLURAL}`;
  let namespaces: WatchedCache<KubernetesObject> | undefined;
  const services = watchCache<V1Service>(kc, svcPath, log, { trim: slimAllocatorService });
  const groups = watchCache<ServiceGroup>(kc, groupsPath, log);
  // every node's heartbeat, not one segment's: the NoEligibleNode report needs the whole cluster
  const leases = leaseWatches(kc, namespace, log)(`${HEARTBEAT_LABEL}=node`);
  const endpointSlices = watchCache<V1EndpointSlice>(kc, scoped('/apis/discovery.k8s.io/v1', 'endpointslices'), log, {
    trim: slimEndpointSlice,
  });
  return {
    services,
    groups,
    leases,
    endpointSlices,
    // metadata only: the selectors read labels, nothing else of a Namespace
    namespaces: () => (namespaces ??= watchCache(kc, '/api/v1/namespaces', log, { metadataOnly: true })),
    listServices: async () => (await listAll(pagedList<V1Service>(kc, svcPath), slimAllocatorService)).items,
    patchServiceStatus: (ns, name, body) => kc.patch(`${servicePath(ns, name)}/status`, body, 'merge'),
    patchServiceAnnotations: (ns, name, annotations) => patchServiceAnnotations(kc, ns, name, annotations),
    patchGroupStatus: async (name, status) => {
      await kc.patch(`${groupsPath}/${name}/status`, { status }, 'merge');
    },
    events: createEventRecorder(kc, ALLOCATOR_COMPONENT, log),
    stop: async () => {
      const started = [services, groups, leases, endpointSlices, ...(namespaces ? [namespaces] : [])];
      await Promise.all(started.map((c) => c.stop()));
    },
  };
}
