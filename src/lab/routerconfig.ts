// The RouterConfig the lab applies for its --daemon/--protocol choice (pure): every lab node peers with
// the ToR's LAN addresses (BGP) or joins OSPF area 0 on eth0 with the ToR's timers.
import { API_VERSION } from '../api/names.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { LabPlan } from './plan.ts';
import { BGP_TIMERS, OSPF_TIMERS } from './tor.ts';

export const LAB_ROUTERCONFIG = 'lab';

export function labRouterConfig(
  plan: LabPlan,
  namespace: string,
): KubernetesObject & { spec: Record<string, unknown> } {
  const o = plan.options;
  const peer = (address: string, family: 'ipv4' | 'ipv6') => ({
    address,
    asn: o.torASN,
    holdTime: BGP_TIMERS.hold,
    keepaliveTime: BGP_TIMERS.keepalive,
    families: [family],
    description: `lab ToR ${family}`,
    ...(o.bfd ? { bfd: true } : {}),
  });
  const spec =
    o.protocol === 'bgp'
      ? {
          bgp: {
            localASN: o.nodeASN,
            peers: [peer(plan.tor.ipv4, 'ipv4'), ...(plan.tor.ipv6 ? [peer(plan.tor.ipv6, 'ipv6')] : [])],
          },
        }
      : {
          // external (E2 with one metric): the same cost from BIRD and FRR, so ECMP never depends on the daemon
          ospf: {
            area: 0,
            mode: 'external',
            metric: 20,
            helloInterval: OSPF_TIMERS.hello,
            deadInterval: OSPF_TIMERS.dead,
            networkType: 'broadcast',
            interfaces: ['eth0'],
          },
        };
  return {
    apiVersion: API_VERSION,
    kind: 'RouterConfig',
    metadata: { name: LAB_ROUTERCONFIG, namespace },
    spec: { nodeSelector: { 'purelb.io/lab': o.name }, daemon: o.daemon, protocol: o.protocol, ...spec },
  };
}
