// The routing controller's cluster port over the Kubernetes API: a watch of the RouterConfigs in the
// install namespace, the Node's labels, peer password Secrets, this node's NodeRoutingStatus and Events.
// These are exactly the calls the RBAC of docs/routing.md allows. No other node's status is read or watched.
import type { V1Node, V1Secret } from '@kubernetes/client-node';
import { AGENT_COMPONENT, GROUP, NODE_ROUTING_STATUS_PLURAL, VERSION } from '../api/names.ts';
import type { RouterConfig } from '../api/validate-routerconfig.ts';
import { createEventRecorder } from '../k8s/events.ts';
import { watchCache } from '../k8s/informer.ts';
import type { KubeClient } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import type { RoutingClusterPort } from './ports.ts';
import { nodeRoutingStatusObject } from './status.ts';

const PLURAL = 'routerconfigs';

export function createRoutingClusterPort(
  kc: KubeClient,
  namespace: string,
  nodeName: string,
  log: Logger,
): RoutingClusterPort {
  const namespaced = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}`;
  const statusPath = `${namespaced}/${NODE_ROUTING_STATUS_PLURAL}/${nodeName}`;
  const configs = watchCache<RouterConfig>(kc, `${namespaced}/${PLURAL}`, log);
  return {
    synced: configs.synced,
    listRouterConfigs: () => configs.list(),
    onRouterConfigChange: (handler) => configs.onChange(handler),
    async readNode() {
      const { metadata } = await kc.get<V1Node>(`/api/v1/nodes/${nodeName}`);
      return { labels: metadata?.labels ?? {}, ...(metadata?.uid ? { uid: metadata.uid } : {}) };
    },
    async readSecretKey(name, key) {
      const b64 = (await kc.get<V1Secret>(`/api/v1/namespaces/${namespace}/secrets/${name}`)).data?.[key];
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
    },
    async writeNodeStatus(entry, nodeUID) {
      const body = nodeRoutingStatusObject(nodeName, namespace, nodeUID, entry);
      await kc.patch(statusPath, body, 'apply', { query: { fieldManager: AGENT_COMPONENT, force: true } });
    },
    async deleteNodeStatus() {
      await kc.delete(statusPath).catch((err: unknown) => {
        if ((err as { code?: number }).code !== 404) throw err;
      });
    },
    events: createEventRecorder(kc, AGENT_COMPONENT, log),
    stop: () => configs.stop(),
  };
}
