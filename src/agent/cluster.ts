// The agent's cluster port: the few things the node agent reads from and writes to the API, and the
// real implementation over watch caches. The controller sees only this interface, so unit tests drive
// it with an in-memory cluster.
import type { KubernetesObject, V1EndpointSlice, V1Lease, V1Node, V1Service } from '@kubernetes/client-node';
import { ANN } from '../api/annotations.ts';
import { AGENT_COMPONENT, API_VERSION } from '../api/names.ts';
import type { LBNodeAgent, ServiceGroup } from '../api/types.ts';
import { createEventRecorder, type EventRecorder } from '../k8s/events.ts';
import { watchCache, type WatchedCache } from '../k8s/informer.ts';
import { patchServiceAnnotations } from '../k8s/patch.ts';
import type { KubeClient } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import { slimNode } from './out-of-service.ts';
import { leaseWatches, segmentLeases } from './segment-leases.ts';
import { slimService } from './slim.ts';
import { dropBookkeeping, slimEndpointSlice } from '../k8s/trim.ts';

/** What changed: `inputs` = EndpointSlices, ServiceGroups or the LBNodeAgent (always worth a reconcile). */
export type ClusterChange = 'services' | 'inputs' | 'leases' | 'node';

export interface AgentCluster {
  /** Resolves when every watched kind has been listed once: nothing may change before (a partial view
   * would withdraw addresses). The heartbeat Leases are not part of it: see setSegments. */
  synced: Promise<void>;
  /** A change stores a new object: one held is never changed (the agent derives each once, service-inputs.ts). */
  services(): readonly V1Service[];
  service(namespace: string, name: string): V1Service | undefined;
  endpointSlices(): readonly V1EndpointSlice[];
  serviceGroups(): readonly ServiceGroup[];
  /** The LBNodeAgent the agent follows, if it exists. */
  lbNodeAgent(): LBNodeAgent | undefined;
  /** The heartbeat Leases in the L2 segments of this node's subnets (setSegments), this node's own included. */
  heartbeatLeases(): readonly V1Lease[];
  /** Watches the heartbeat Leases of these subnets' segments only, from now on (a node without a subnet
   * watches none); resolves when each of them has been listed once. */
  setSegments(subnets: readonly string[]): Promise<void>;
  /** The subnets given to setSegments whose Leases have not been listed yet: their peers are not known. */
  pendingSegments(): string[];
  /** This node's Node object (only this one is watched). */
  ownNode(): V1Node | undefined;
  /** Subscribes to changes; for `services` the handler gets the changed object (undefined on a relist). */
  onChange(what: ClusterChange, handler: (obj: KubernetesObject | undefined) => void): void;
  /**
   * Sets purelb.io/announcing-IPv4 or -IPv6 on a Service, only if it is still at `resourceVersion`
   * (409 Conflict otherwise): a late write from a node that decided on an older Service never
   * overwrites the owner another node recorded since.
   */
  setAnnouncing(namespace: string, name: string, family: 4 | 6, value: string, resourceVersion?: string): Promise<void>;
  events: EventRecorder;
  stop(): Promise<void>;
}

export interface WatchOptions {
  kc: KubeClient;
  namespace: string;
  node: string;
  configName: string;
  log: Logger;
}

export function watchAgentCluster({ kc, namespace, node, configName, log }: WatchOptions): AgentCluster {
  // Only this node's Node, by field selector: one small watch per node, whatever the cluster size.
  const ownNode = `metadata.name=${node}`;
  const crPath = (plural: string) => `/apis/${API_VERSION}/namespaces/${namespace}/${plural}`;

  // every Service and EndpointSlice of the cluster: kept only as far as the agent reads them (./slim.ts)
  const services = watchCache<V1Service>(kc, '/api/v1/services', log, { trim: slimService });
  const slices = watchCache<V1EndpointSlice>(kc, '/apis/discovery.k8s.io/v1/endpointslices', log, {
    trim: slimEndpointSlice,
  });
  const groups = watchCache<ServiceGroup>(kc, crPath('servicegroups'), log, { trim: dropBookkeeping });
  const agents = watchCache<LBNodeAgent>(kc, crPath('lbnodeagents'), log, { trim: dropBookkeeping });
  // watched once the controller knows the node's subnets (setSegments)
  const leases = segmentLeases(leaseWatches(kc, namespace, log));
  const nodes = watchCache<V1Node>(kc, '/api/v1/nodes', log, { fieldSelector: ownNode, trim: slimNode });
  const caches: WatchedCache<KubernetesObject>[] = [services, slices, groups, agents, nodes];
  const byChange: Record<Exclude<ClusterChange, 'leases'>, WatchedCache<KubernetesObject>[]> = {
    services: [services],
    inputs: [slices, groups, agents],
    node: [nodes],
  };

  return {
    synced: Promise.all(caches.map((c) => c.synced)).then(() => undefined),
    services: () => services.list(),
    service: (ns, name) => services.get(name, ns),
    endpointSlices: () => slices.list(),
    serviceGroups: () => groups.list(),
    lbNodeAgent: () => agents.get(configName, namespace),
    heartbeatLeases: () => leases.list(),
    setSegments: (subnets) => leases.setSegments(subnets),
    pendingSegments: () => leases.pending(),
    ownNode: () => nodes.get(node),
    onChange(what, handler) {
      const relayed = (obj: KubernetesObject | undefined, kind: string) => handler(kind === 'relist' ? undefined : obj);
      if (what === 'leases') leases.onChange(relayed);
      else for (const c of byChange[what]) c.onChange(relayed);
    },
    async setAnnouncing(ns, name, family, value, resourceVersion) {
      await patchServiceAnnotations(
        kc,
        ns,
        name,
        { [family === 4 ? ANN.announcingIPv4 : ANN.announcingIPv6]: value },
        resourceVersion,
      );
    },
    events: createEventRecorder(kc, AGENT_COMPONENT, log, node),
    async stop() {
      await Promise.all([...caches.map((c) => c.stop()), leases.stop()]);
    },
  };
}
