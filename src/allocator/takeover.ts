// What a new leader believes before it hands out anything (pure): every address the Services already
// show is held again, so no address in use is ever given to a second Service after a restart.
import type { V1Service } from '@kubernetes/client-node';
import { ANN } from '../api/annotations.ts';
import { canonicalIP, parseIP } from '../api/ip.ts';
import { holderOf } from './policy.ts';
import { isHandled, isLoadBalancer, readRequest, serviceKey } from './request.ts';
import { ingressIPs } from './service-addresses.ts';
import type { AllocationState } from './state.ts';

/** Holds the addresses of every LoadBalancer Service in `state` (its groups already set); returns how many. */
export function adoptAddresses(state: AllocationState, services: readonly V1Service[], lbClass: string): number {
  let adopted = 0;
  for (const svc of services) {
    if (!isLoadBalancer(svc)) continue;
    const req = isHandled(svc, lbClass) ? readRequest(svc) : undefined;
    const named = (svc.metadata?.annotations?.[ANN.allocatedFrom] ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
    for (const text of ingressIPs(svc)) {
      const ip = parseIP(text);
      if (!ip) continue;
      const inGroup = state.pools.locate(ip)?.group;
      if (!req && !inGroup) continue; // another class's address outside our pools is none of our business
      // the group it came from: where it lies now if the annotation agrees, else what the annotation says
      const group =
        inGroup && (named.length === 0 || named.includes(inGroup))
          ? inGroup
          : (named[0] ?? inGroup ?? req?.group ?? '');
      const holder = req ? holderOf(req) : { service: serviceKey(svc), ports: [], foreign: true };
      state.hold(holder, { ip, text: canonicalIP(text)!, group });
      adopted++;
    }
  }
  return adopted;
}
