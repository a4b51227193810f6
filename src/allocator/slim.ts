// What the allocator keeps of the Services it watches (pure). Its cache holds every Service in scope,
// and most of each object is never read here: cluster IPs, selectors, node ports, target ports, other
// tools' annotations. The cache trims a Service in place as it arrives, keeping exactly what
// readRequest (request.ts), the addresses shown (service-addresses.ts), the first-come order
// (creationTimestamp), the NoEligibleNode report (externalTrafficPolicy) and events read.
import type { V1Service, V1ServiceSpec } from '@kubernetes/client-node';
import { ingressStatus, serviceMetadata } from '../k8s/trim.ts';

const SPEC_FIELDS = [
  'type',
  'loadBalancerClass',
  'loadBalancerIP',
  'ipFamilies',
  'ipFamilyPolicy',
  'externalTrafficPolicy',
] as const satisfies readonly (keyof V1ServiceSpec)[];

export function slimAllocatorService(svc: V1Service): void {
  const created = svc.metadata?.creationTimestamp;
  svc.metadata = { ...serviceMetadata(svc.metadata), ...(created ? { creationTimestamp: created } : {}) };
  const spec = svc.spec ?? {};
  const kept: V1ServiceSpec = {};
  for (const f of SPEC_FIELDS) if (spec[f] !== undefined) Object.assign(kept, { [f]: spec[f] });
  // sharing compares protocol/port only
  if (spec.ports)
    kept.ports = spec.ports.map((p) => ({ port: p.port, ...(p.protocol ? { protocol: p.protocol } : {}) }));
  svc.spec = kept;
  svc.status = ingressStatus(svc.status);
}
