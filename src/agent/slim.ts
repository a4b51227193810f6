// What the agent keeps of the Services it watches (pure). The watch cache holds every Service of the
// cluster, and most of each object is never read here: managedFields, kubectl's
// last-applied-configuration annotation (a copy of the whole object), ports, cluster IPs. The cache trims
// a Service in place as it arrives, keeping exactly what serviceInput (src/model/services.ts) and event
// references read. EndpointSlices are trimmed by slimEndpointSlice (src/k8s/trim.ts), which the
// allocator's cache shares.
import type { V1Service } from '@kubernetes/client-node';
import { ingressStatus, serviceMetadata } from '../k8s/trim.ts';

/** Keeps the identity, labels (routing selects Services by them), purelb.io/ annotations,
 * externalTrafficPolicy and the ingress addresses. */
export function slimService(svc: V1Service): void {
  svc.metadata = serviceMetadata(svc.metadata);
  const etp = svc.spec?.externalTrafficPolicy;
  svc.spec = etp ? { externalTrafficPolicy: etp } : {};
  svc.status = ingressStatus(svc.status);
}
