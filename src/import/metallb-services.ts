// MetalLB's Service annotations to PureLB's, as one patch per Service (pure). A Service that MetalLB
// already gave an address, without asking for one, is pinned to it (purelb.io/addresses) so that it
// keeps the address after the switch.
import type { V1Service } from '@kubernetes/client-node';
import { readRequest } from '../allocator/request.ts';
import { ANN, DEFAULT_LB_CLASS } from '../api/annotations.ts';
import { parseIP } from '../api/ip.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { describeSource, isRecord, type Report, type ServicePatch, type SourceObject } from './report.ts';

/** MetalLB v0.13+ prefix, and the older one it still reads. */
const PREFIXES = ['metallb.io/', 'metallb.universe.tf/'];
const TO_PURELB: Record<string, string> = {
  'address-pool': ANN.serviceGroup,
  loadBalancerIPs: ANN.addresses,
  'allow-shared-ip': ANN.allowSharedIP,
};
/** Written by MetalLB itself; nothing to carry over. */
const INFORMATIONAL = ['ip-allocated-from-pool'];

export interface ServiceMapping {
  /** MetalLB pool name -> ServiceGroup name. */
  groupOf: (pool: string) => string | undefined;
  /** Pools of the emitted ServiceGroups: a pinned address must lie in one. */
  groups: readonly ServiceGroupConfig[];
}

const ingressIPs = (svc: SourceObject): string[] => {
  const lb = isRecord(svc.status) && isRecord(svc.status.loadBalancer) ? svc.status.loadBalancer : {};
  return (Array.isArray(lb.ingress) ? lb.ingress : [])
    .map((i) => (isRecord(i) && typeof i.ip === 'string' ? i.ip : ''))
    .filter((ip) => parseIP(ip));
};

// eslint-disable-next-line max-lines-per-function -- one pass over the Services: each annotation is mapped or reported right where it is read
export function mapServices(services: readonly SourceObject[], m: ServiceMapping, report: Report): ServicePatch[] {
  const patches: ServicePatch[] = [];
  for (const svc of services) {
    const object = describeSource(svc);
    const spec = (isRecord(svc.spec) ? svc.spec : {}) as NonNullable<V1Service['spec']>;
    if (spec.type !== 'LoadBalancer') continue;
    const annotations: Record<string, string> = {};
    for (const [key, value] of Object.entries(svc.metadata?.annotations ?? {})) {
      const prefix = PREFIXES.find((p) => key.startsWith(p));
      if (!prefix) continue;
      const short = key.slice(prefix.length);
      const target = TO_PURELB[short];
      if (INFORMATIONAL.includes(short)) continue;
      if (!target) {
        report.note(object, `metadata.annotations[${key}]`, 'unknown MetalLB annotation; not mapped');
        continue;
      }
      if (target === ANN.serviceGroup) {
        const group = m.groupOf(value.trim());
        if (!group) {
          report.note(
            object,
            `metadata.annotations[${key}]`,
            `pool "${value}" is not in the input (or was not mapped); not mapped`,
          );
          continue;
        }
        annotations[target] = group;
      } else
        annotations[target] =
          target === ANN.addresses
            ? value
                .split(',')
                .map((a) => a.trim())
                .join(',')
            : value;
    }
    if (!annotations[ANN.addresses] && !spec.loadBalancerIP) {
      const held = ingressIPs(svc);
      if (held.length) annotations[ANN.addresses] = held.join(',');
    }
    if (spec.loadBalancerClass && spec.loadBalancerClass !== DEFAULT_LB_CLASS)
      report.note(
        object,
        'spec.loadBalancerClass',
        `"${spec.loadBalancerClass}" is immutable and not handled by the allocator (it handles no class or ${DEFAULT_LB_CLASS}): recreate the Service without it, or run the allocator with --lb-class ${spec.loadBalancerClass}`,
      );
    // the same reading of the annotations as the allocator's: a malformed request is not carried over
    const req = readRequest({ ...svc, metadata: { ...svc.metadata, annotations } } as V1Service);
    for (const problem of req.problems) {
      report.note(object, `metadata.annotations[${ANN.addresses}]`, `${problem}; not mapped`);
      delete annotations[ANN.addresses];
    }
    if (annotations[ANN.addresses])
      for (const ip of req.pinned)
        if (
          !m.groups.some((g) =>
            g.ranges.some((r) => r.family === ip.family && r.first <= ip.value && ip.value <= r.last),
          )
        )
          report.note(
            object,
            `metadata.annotations[${ANN.addresses}]`,
            `address ${annotations[ANN.addresses]} lies in no imported ServiceGroup: the allocator will refuse it until a group holds it`,
          );
    if (Object.keys(annotations).length === 0) continue;
    patches.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svc.metadata?.name ?? '', namespace: svc.metadata?.namespace ?? 'default', annotations },
    });
  }
  return patches;
}
