// What the allocator keeps of the Services it watches (pure). Its cache holds every Service in scope,
// and most of each object is never read here: cluster IPs, selectors, node ports, target ports, other
// tools' annotations. The cache trims a Service in place as it arrives, keeping exactly what
// allocationRequest (request.ts), the addresses shown (service-addresses.ts), the first-come order
// (creationTimestamp), the NoEligibleNode report (externalTrafficPolicy) and events read.
import type { V1Service, V1ServiceSpec } from '@kubernetes/client-node';
import { identity, purelbAnnotations } from '../k8s/trim.ts';

const SPEC_FIELDS = [
  'type',
  'loadBalancerClass',
  'loadBalancerIP',
  'ipFamilies',
  'ipFamilyPolicy',
  'externalTrafficPolicy',
] as const satisfies readonly (keyof V1ServiceSpec)[];

export function slimAllocatorService(svc: V1Service): void {
  const m = svc.metadata;
  svc.metadata = {
    ...identity(m),
    ...(m?.creationTimestamp ? { creationTimestamp: m.creationTimestamp } : {}),
    ...(m?.labels ? { labels: m.labels } : {}),
    ...purelbAnnotations(m),
  };
  const spec = svc.spec ?? {};
  const kept: V1ServiceSpec = {};
  for (const f of SPEC_FIELDS) if (spec[f] !== undefined) Object.assign(kept, { [f]: spec[f] });
  // sharing compares protocol/port only
  if (spec.ports)
    kept.ports = spec.ports.map((p) => ({ port: p.port, ...(p.protocol ? { protocol: p.protocol } : {}) }));
  svc.spec = kept;
  const ingress = svc.status?.loadBalancer?.ingress;
  svc.status = ingress ? { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip })) } } : {};
}
