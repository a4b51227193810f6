// What the agent keeps of the Services and EndpointSlices it watches (pure). The watch caches hold every
// Service and EndpointSlice of the cluster, and most of each object is never read here: managedFields,
// kubectl's last-applied-configuration annotation (a copy of the whole object), ports, cluster IPs,
// endpoint addresses. Each cache trims an object in place as it arrives, keeping exactly what
// serviceInput / nodesWithEndpoints (src/model/services.ts) and event references read.
import type { V1EndpointSlice, V1ObjectMeta, V1Service } from '@kubernetes/client-node';
import { SERVICE_NAME_LABEL } from '../model/services.ts';

const PURELB_ANNOTATION = 'purelb.io/';

/** Identity and version: what the cache, events (regarding) and conditional writes need. */
function identity(m: V1ObjectMeta | undefined): V1ObjectMeta {
  return { name: m?.name, namespace: m?.namespace, uid: m?.uid, resourceVersion: m?.resourceVersion };
}

/** Keeps the identity, labels (routing selects Services by them), purelb.io/ annotations,
 * externalTrafficPolicy and the ingress addresses. */
export function slimService(svc: V1Service): void {
  const m = svc.metadata;
  const annotations = Object.entries(m?.annotations ?? {}).filter(([k]) => k.startsWith(PURELB_ANNOTATION));
  svc.metadata = {
    ...identity(m),
    ...(m?.labels ? { labels: m.labels } : {}),
    ...(annotations.length ? { annotations: Object.fromEntries(annotations) } : {}),
  };
  const etp = svc.spec?.externalTrafficPolicy;
  svc.spec = etp ? { externalTrafficPolicy: etp } : {};
  const ingress = svc.status?.loadBalancer?.ingress;
  svc.status = ingress ? { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip })) } } : {};
}

/** Keeps the Service the slice belongs to and, per endpoint, its node and conditions. */
export function slimEndpointSlice(slice: V1EndpointSlice): void {
  const m = slice.metadata;
  const service = m?.labels?.[SERVICE_NAME_LABEL];
  slice.metadata = { ...identity(m), ...(service ? { labels: { [SERVICE_NAME_LABEL]: service } } : {}) };
  slice.endpoints = (slice.endpoints ?? []).map((ep) => ({
    addresses: [],
    ...(ep.nodeName ? { nodeName: ep.nodeName } : {}),
    ...(ep.conditions ? { conditions: ep.conditions } : {}),
  }));
  delete slice.ports;
}
