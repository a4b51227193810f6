// What a Service shows and what it should show (pure): its ingress addresses in its own family order,
// our annotations, and the notes of the events that tell the user what changed between the two.
import type { V1Service } from '@kubernetes/client-node';
import { ANN, BRAND } from '../api/annotations.ts';
import { canonicalIP, type Family } from '../api/ip.ts';
import type { AllocationRequest } from './request.ts';
import type { Held } from './state.ts';

export const ingressIPs = (svc: V1Service) =>
  (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip);

/** The ingress addresses in canonical text (how held addresses are written). */
export const shownIPs = (svc: V1Service) => ingressIPs(svc).map((ip) => canonicalIP(ip) ?? ip);

export interface ServiceTarget {
  ips: string[];
  /** A value sets an annotation, null removes it. */
  annotations: Record<string, string | null>;
}

/** Held addresses ordered as spec.ipFamilies lists their families. */
export function inFamilyOrder(svc: V1Service, held: readonly Held[]): string[] {
  const rank = (f: Family) => {
    const i = (svc.spec?.ipFamilies ?? []).indexOf(`IPv${f}`);
    return i < 0 ? f : i;
  };
  return [...held].sort((a, b) => rank(a.ip.family) - rank(b.ip.family)).map((h) => h.text);
}

const groupsOf = (held: readonly Held[]) => [...new Set(held.map((h) => h.group))].join(', ');

/** The held addresses, branded with the groups they came from (nothing held: no allocated-from). */
export const targetOf = (svc: V1Service, held: readonly Held[]): ServiceTarget => ({
  ips: inFamilyOrder(svc, held),
  annotations: held.length
    ? { [ANN.allocatedBy]: BRAND, [ANN.allocatedFrom]: groupsOf(held) }
    : { [ANN.allocatedFrom]: null },
});

/** A Service that is no longer of type LoadBalancer shows nothing of ours. */
export const RELEASED: ServiceTarget = { ips: [], annotations: { [ANN.allocatedFrom]: null } };

export const notLoadBalancerNote = (svc: V1Service, released: readonly string[]) =>
  `Released ${released.join(', ')}: the Service is type ${svc.spec?.type}, not LoadBalancer`;

/**
 * The AddressReleased and AddressAssigned notes for a successful allocation, from what the Service
 * showed before the write and what it shows now (so a write that failed and was retried still reports).
 */
export function allocationNotes(
  svc: V1Service,
  req: AllocationRequest,
  held: readonly Held[],
): { released?: string; assigned?: string } {
  const before = shownIPs(svc);
  const after = inFamilyOrder(svc, held);
  const released = before.filter((ip) => !after.includes(ip));
  const added = held.filter((h) => !before.includes(h.text));
  const kept = after.filter((ip) => before.includes(ip));
  const asks = req.pinned.length ? `${req.pinnedBy} ${req.pinned.length} address(es)` : `ServiceGroup ${req.group}`;
  return {
    ...(released.length ? { released: `Released ${released.join(', ')}: the Service now asks for ${asks}` } : {}),
    ...(added.length
      ? {
          assigned: `Assigned ${inFamilyOrder(svc, added).join(', ')} from ServiceGroup ${groupsOf(added)}${kept.length ? ` (keeps ${kept.join(', ')})` : ''}`,
        }
      : {}),
  };
}
