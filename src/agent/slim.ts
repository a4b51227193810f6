// What the agent keeps of the Services it watches (pure). The watch cache holds every Service of the
// cluster, and most of each object is never read here: managedFields, kubectl's
// last-applied-configuration annotation (a copy of the whole object), ports, cluster IPs. The cache trims
// a Service in place as it arrives, keeping exactly what serviceInput (src/model/services.ts) and event
// references read. EndpointSlices are trimmed by slimEndpointSlice (src/k8s/trim.ts), which the
// allocator's cache shares.
import type { V1Service } from '@kubernetes/client-node';
import { identity, purelbAnnotations } from '../k8s/trim.ts';

/** Keeps the identity, labels (routing selects Services by them), purelb.io/ annotations,
 * externalTrafficPolicy and the ingress addresses. */
export function slimService(svc: V1Service): void {
  const m = svc.metadata;
  svc.metadata = { ...identity(m), ...(m?.labels ? { labels: m.labels } : {}), ...purelbAnnotations(m) };
  const etp = svc.spec?.externalTrafficPolicy;
  svc.spec = etp ? { externalTrafficPolicy: etp } : {};
  const ingress = svc.status?.loadBalancer?.ingress;
  svc.status = ingress ? { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip })) } } : {};
}
