// What a Service asks of the allocator, read from its spec and annotations (pure).
import type { V1Service } from '@kubernetes/client-node';
import { ANN, DEFAULT_GROUP_NAME } from '../api/annotations.ts';
import { formatIP, parseIP, type Family, type IP } from '../api/ip.ts';

export type FamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

export interface AllocationRequest {
  /** "namespace/name" */
  service: string;
  /** What ServiceGroup scopes (spec.serviceAllocation) are matched against. */
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** Labels of the Service's namespace; undefined when the allocator does not watch Namespaces. */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
  /** Addresses asked for by purelb.io/addresses or spec.loadBalancerIP, at most one per family. */
  pinned: IP[];
  pinnedBy?: 'purelb.io/addresses' | 'spec.loadBalancerIP';
  /** purelb.io/service-group, else "default" (the policy may choose the namespace's default group instead); not used when addresses are pinned. */
  group: string;
  groupAnnotated: boolean;
  /** spec.ipFamilies in order (empty when the API server did not fill it). */
  families: Family[];
  policy: FamilyPolicy;
  sharingKey?: string;
  ports: string[];
  /** Request errors (malformed addresses...), each naming the field and the fix. */
  problems: string[];
}

export const serviceKey = (svc: V1Service) => `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;

export const isLoadBalancer = (svc: V1Service) => svc.spec?.type === 'LoadBalancer';

/** Type LoadBalancer and of our class (an unset class is ours). */
export const isHandled = (svc: V1Service, lbClass: string) =>
  isLoadBalancer(svc) && (!svc.spec?.loadBalancerClass || svc.spec.loadBalancerClass === lbClass);

const familyOf = (name: string): Family | undefined => (name === 'IPv4' ? 4 : name === 'IPv6' ? 6 : undefined);

/** The pinned addresses: purelb.io/addresses (comma list, whitespace trimmed), else spec.loadBalancerIP. */
function pinnedAddresses(svc: V1Service, problems: string[]): Pick<AllocationRequest, 'pinned' | 'pinnedBy'> {
  const annotation = svc.metadata?.annotations?.[ANN.addresses];
  const source =
    annotation !== undefined && annotation.trim() !== ''
      ? ({ text: annotation, by: ANN.addresses } as const)
      : svc.spec?.loadBalancerIP
        ? ({ text: svc.spec.loadBalancerIP, by: 'spec.loadBalancerIP' } as const)
        : undefined;
  if (!source) return { pinned: [] };
  const pinned: IP[] = [];
  for (const part of source.text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const ip = parseIP(part);
    if (!ip) {
      problems.push(
        `${source.by}: "${part}" is not an IP address; write IPv4 as four decimal octets (e.g. 192.168.10.240) or an IPv6 address, comma-separated, one per family`,
      );
      continue;
    }
    const twin = pinned.find((p) => p.family === ip.family);
    if (twin) {
      problems.push(
        `${source.by}: ${formatIP(twin)} and ${part} are both IPv${ip.family}; give at most one address per family`,
      );
      continue;
    }
    pinned.push(ip);
  }
  return { pinned, pinnedBy: source.by };
}

export function readRequest(svc: V1Service, namespaceLabels?: Readonly<Record<string, string>>): AllocationRequest {
  const problems: string[] = [];
  const annotations = svc.metadata?.annotations ?? {};
  const groupAnnotation = annotations[ANN.serviceGroup]?.trim();
  const sharingKey = annotations[ANN.allowSharedIP]?.trim();
  return {
    service: serviceKey(svc),
    namespace: svc.metadata?.namespace ?? '',
    labels: svc.metadata?.labels ?? {},
    namespaceLabels,
    ...pinnedAddresses(svc, problems),
    group: groupAnnotation || DEFAULT_GROUP_NAME,
    groupAnnotated: !!groupAnnotation,
    families: (svc.spec?.ipFamilies ?? []).map(familyOf).filter((f): f is Family => f !== undefined),
    policy: (svc.spec?.ipFamilyPolicy as FamilyPolicy | undefined) ?? 'SingleStack',
    ...(sharingKey ? { sharingKey } : {}),
    ports: [...new Set((svc.spec?.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`))].sort(),
    problems,
  };
}
