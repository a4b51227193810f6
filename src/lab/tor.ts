// The ToR router's FRR configuration (pure): eBGP with every node of the LAN as a dynamic peer
// (`bgp listen range`), ECMP over nodes with different ASNs (multipath-relax), nothing advertised
// back to the nodes; or OSPF area 0 on the LAN with the ToR as designated router.
import type { FrrDaemon } from './frr.ts';
import { type LabPlan } from './plan.ts';

/** Hello/dead intervals of the lab's OSPF; the lab's RouterConfig uses the same (they must match). */
export const OSPF_TIMERS = { hello: 1, dead: 4 } as const;
/** BGP keepalive/hold of the lab (both sides; the lower hold wins in the session anyway). */
export const BGP_TIMERS = { keepalive: 1, hold: 3 } as const;
export const MAX_PATHS = 16;

export function renderTorConfig(plan: LabPlan): string {
  const o = plan.options;
  const v4 = plan.lan.v4;
  const v6 = plan.lan.v6;
  const lines = ['frr defaults traditional', `hostname ${plan.torNetns}`, 'log stdout informational', '!'];
  if (o.protocol === 'bgp') {
    lines.push(
      'route-map NOTHING deny 10',
      'exit',
      '!',
      `router bgp ${o.torASN}`,
      ` bgp router-id ${plan.tor.ipv4}`,
      ' no bgp ebgp-requires-policy',
      ' no bgp default ipv4-unicast',
      ' bgp bestpath as-path multipath-relax',
      ' bgp route-map delay-timer 0',
      ' neighbor NODES peer-group',
      ' neighbor NODES remote-as external',
      ` neighbor NODES timers ${BGP_TIMERS.keepalive} ${BGP_TIMERS.hold}`,
      ' neighbor NODES advertisement-interval 0',
      ...(o.bfd ? [' neighbor NODES bfd', ' neighbor NODES bfd profile lab'] : []),
      ` bgp listen range ${v4} peer-group NODES`,
      ...(v6 ? [` bgp listen range ${v6} peer-group NODES`] : []),
    );
    for (const af of ['ipv4', ...(v6 ? ['ipv6'] : [])]) {
      lines.push(
        ` address-family ${af} unicast`,
        '  neighbor NODES activate',
        '  neighbor NODES route-map NOTHING out',
        `  maximum-paths ${MAX_PATHS}`,
        ' exit-address-family',
      );
    }
    lines.push('exit', '!');
    if (o.bfd)
      lines.push('bfd', ' profile lab', '  receive-interval 100', '  transmit-interval 100', ' exit', 'exit', '!');
  } else {
    lines.push(
      `interface ${plan.lanBridge}`,
      ' ip ospf area 0',
      ` ip ospf hello-interval ${OSPF_TIMERS.hello}`,
      ` ip ospf dead-interval ${OSPF_TIMERS.dead}`,
      ' ip ospf priority 255',
      ...(v6
        ? [
            ` ipv6 ospf6 hello-interval ${OSPF_TIMERS.hello}`,
            ` ipv6 ospf6 dead-interval ${OSPF_TIMERS.dead}`,
            ' ipv6 ospf6 priority 255',
          ]
        : []),
      'exit',
      '!',
      'router ospf',
      ` ospf router-id ${plan.tor.ipv4}`,
      ` maximum-paths ${MAX_PATHS}`,
      'exit',
      '!',
    );
    if (v6) {
      lines.push(
        'router ospf6',
        ` ospf6 router-id ${plan.tor.ipv4}`,
        ` maximum-paths ${MAX_PATHS}`,
        ` interface ${plan.lanBridge} area 0.0.0.0`,
        'exit',
        '!',
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** FRR daemons the ToR needs besides zebra. */
export function torDaemons(plan: LabPlan): FrrDaemon[] {
  if (plan.options.protocol === 'ospf') return ['ospfd', ...(plan.lan.v6 ? (['ospf6d'] as const) : [])];
  return ['bgpd', ...(plan.options.bfd ? (['bfdd'] as const) : [])];
}
