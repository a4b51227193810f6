// Trims for watch caches (pure, in place): bookkeeping of the API and of kubectl that no component of
// ours reads, yet is often most of an object, and the few kinds every component reads only a little of.
import type { KubernetesObject, V1EndpointSlice, V1ObjectMeta, V1ServiceStatus } from '@kubernetes/client-node';
import { SERVICE_NAME_LABEL } from '../model/services.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const PURELB_ANNOTATION = 'purelb.io/';

/** managedFields and kubectl's last-applied-configuration annotation (a copy of the whole object). */
export function dropBookkeeping(o: KubernetesObject): void {
  const m = o.metadata;
  if (!m) return;
  delete m.managedFields;
  if (m.annotations) delete m.annotations[LAST_APPLIED];
}

/** Identity and version: what the cache, events (regarding) and conditional writes need. */
export function identity(m: V1ObjectMeta | undefined): V1ObjectMeta {
  return { name: m?.name, namespace: m?.namespace, uid: m?.uid, resourceVersion: m?.resourceVersion };
}

/** A Service's identity, labels and purelb.io/ annotations (the only ones our components read): what the
 * agent and the allocator both keep of its metadata. */
export function serviceMetadata(m: V1ObjectMeta | undefined): V1ObjectMeta {
  const annotations = Object.entries(m?.annotations ?? {}).filter(([k]) => k.startsWith(PURELB_ANNOTATION));
  return {
    ...identity(m),
    ...(m?.labels ? { labels: m.labels } : {}),
    ...(annotations.length ? { annotations: Object.fromEntries(annotations) } : {}),
  };
}

/** A Service's status reduced to its ingress IPs. */
export function ingressStatus(status: V1ServiceStatus | undefined): V1ServiceStatus {
  const ingress = status?.loadBalancer?.ingress;
  return ingress ? { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip })) } } : {};
}

/** Keeps the Service the slice belongs to and, per endpoint, its node and conditions: what
 * nodesWithEndpoints (src/model/services.ts) reads, for the agent and the allocator alike. */
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
