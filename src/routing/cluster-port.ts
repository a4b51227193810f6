// The routing controller's cluster port over the Kubernetes API: a watch of the RouterConfigs in the
// install namespace, the Node's labels, peer password Secrets, this node's NodeRoutingStatus and Events.
// These are exactly the calls the RBAC of docs/routing.md allows. No other node's status is read or watched.
import { AGENT_COMPONENT, GROUP, NODE_ROUTING_STATUS_PLURAL, VERSION } from '../api/names.ts';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { RouterConfig } from '../api/validate-routerconfig.ts';
import { createEventRecorder } from '../k8s/events.ts';
import { watchCache } from '../k8s/informer.ts';
import { serverSideApply } from '../k8s/patch.ts';
import type { Logger } from '../log.ts';
import type { RoutingClusterPort } from './ports.ts';
import { nodeRoutingStatusObject } from './status.ts';

const PLURAL = 'routerconfigs';

export function createRoutingClusterPort(
  kc: KubeConfig,
  namespace: string,
  nodeName: string,
  log: Logger,
): RoutingClusterPort {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const resource = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
  const status = { group: GROUP, version: VERSION, namespace, plural: NODE_ROUTING_STATUS_PLURAL, name: nodeName };
  const configs = watchCache<RouterConfig>(
    kc,
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
    () => custom.listNamespacedCustomObject(resource) as never,
    log,
  );
  return {
    synced: configs.synced,
    listRouterConfigs: () => configs.list(),
    onRouterConfigChange: (handler) => configs.onChange(handler),
    async readNode() {
      const { metadata } = await core.readNode({ name: nodeName });
      return { labels: metadata?.labels ?? {}, ...(metadata?.uid ? { uid: metadata.uid } : {}) };
    },
    async readSecretKey(name, key) {
      const b64 = (await core.readNamespacedSecret({ name, namespace })).data?.[key];
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
    },
    async writeNodeStatus(entry, nodeUID) {
      const body = nodeRoutingStatusObject(nodeName, namespace, nodeUID, entry);
      await custom.patchNamespacedCustomObject(
        { ...status, body, fieldManager: AGENT_COMPONENT, force: true },
        serverSideApply,
      );
    },
    async deleteNodeStatus() {
      await custom.deleteNamespacedCustomObject(status).catch((err: unknown) => {
        if ((err as { code?: number }).code !== 404) throw err;
      });
    },
    events: createEventRecorder(kc, AGENT_COMPONENT, log),
    stop: () => configs.stop(),
  };
}
