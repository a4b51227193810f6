// A branded Service and its endpoint nodes as every component reads them (pure).
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { ANN, BRAND } from '../api/annotations.ts';
import { formatIP, parseIP, type IP } from '../api/ip.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface ServiceInput {
  /** "namespace/name" */
  key: string;
  addresses: IP[];
  etpLocal: boolean;
  /** ServiceGroups named by purelb.io/allocated-from ("g1, g2" when pinned addresses came from several). */
  allocatedFrom: string[];
  /** Current purelb.io/announcing-IPv4 / -IPv6 values. */
  announcing: { 4?: string; 6?: string };
  /** The Service's labels (RouterConfig spec.bgp.advertisements select by them). */
  labels: Record<string, string>;
  /** The version these values were read from (the agent's announcing write is conditional on it). */
  resourceVersion?: string;
}

export const serviceKey = (namespace: string | undefined, name: string | undefined) =>
  `${namespace ?? ''}/${name ?? ''}`;

/** The Service as the agent sees it, or undefined when it is not ours (no brand) or has no ingress address. */
export function serviceInput(svc: V1Service): ServiceInput | undefined {
  const ann = svc.metadata?.annotations ?? {};
  if (ann[ANN.allocatedBy] !== BRAND) return undefined;
  const seen = new Set<string>();
  const addresses = (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => {
    const ip = i.ip ? parseIP(i.ip) : undefined;
    if (!ip || seen.has(formatIP(ip))) return [];
    seen.add(formatIP(ip));
    return [ip];
  });
  if (addresses.length === 0) return undefined;
  return {
    key: serviceKey(svc.metadata?.namespace, svc.metadata?.name),
    addresses,
    etpLocal: svc.spec?.externalTrafficPolicy === 'Local',
    allocatedFrom: (ann[ANN.allocatedFrom] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    announcing: { 4: ann[ANN.announcingIPv4], 6: ann[ANN.announcingIPv6] },
    labels: { ...(svc.metadata?.labels ?? {}) },
    ...(svc.metadata?.resourceVersion ? { resourceVersion: svc.metadata.resourceVersion } : {}),
  };
}

/** What the routing side knows of one Service that uses a virtual address (RouterConfig
 * spec.bgp.advertisements select Services by labels and groups). */
export interface AddressService {
  /** "namespace/name" */
  key: string;
  labels: Record<string, string>;
  /** ServiceGroups the address was allocated from (purelb.io/allocated-from). */
  groups: string[];
}

/** The AddressService of each Service (by key) that uses one virtual address. */
export function addressServices(keys: readonly string[], inputs: ReadonlyMap<string, ServiceInput>): AddressService[] {
  return keys.flatMap((key) => {
    const s = inputs.get(key);
    return s ? [{ key, labels: s.labels, groups: s.allocatedFrom }] : [];
  });
}

/**
 * Nodes with at least one ready or serving endpoint, per Service key. A missing condition counts as
 * true for `ready` (the EndpointSlice API says so) and false for `serving`.
 */
export function nodesWithEndpoints(slices: readonly V1EndpointSlice[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const slice of slices) {
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!service) continue;
    const key = serviceKey(slice.metadata?.namespace, service);
    const nodes = out.get(key) ?? new Set<string>();
    for (const ep of slice.endpoints ?? []) {
      const healthy = (ep.conditions?.ready ?? true) || (ep.conditions?.serving ?? false);
      if (ep.nodeName && healthy) nodes.add(ep.nodeName);
    }
    out.set(key, nodes);
  }
  return out;
}
