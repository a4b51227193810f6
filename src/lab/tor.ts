// The ToR router's FRR configuration (pure), for the lab and the test Topology alike: eBGP with every
// node as a peer (fixed neighbour addresses, or `bgp listen range` over a LAN), ECMP over nodes with
// different ASNs (multipath-relax), nothing advertised back to the nodes; or OSPF area 0 on the
// interfaces towards the nodes (point-to-point links, or a LAN with the ToR as designated router).
import type { FrrDaemon } from './frr.ts';
import { type LabPlan } from './plan.ts';

/** Hello/dead intervals of the lab's OSPF; the lab's RouterConfig uses the same (they must match). */
export const OSPF_TIMERS = { hello: 1, dead: 4 } as const;
/** BGP keepalive/hold of the lab (both sides; the lower hold wins in the session anyway). */
export const BGP_TIMERS = { keepalive: 1, hold: 3 } as const;
export const MAX_PATHS = 16;

/** The nodes of one family: any address of a LAN prefix (dynamic peers), or these addresses. */
export type TorPeers = { listen: string } | { neighbors: string[] };

export interface TorSpec {
  hostname: string;
  routerId: string;
  /** Also IPv6: BGP peers or OSPFv3. */
  v6: boolean;
  bgp?: {
    asn: number;
    peers: { 4: TorPeers; 6?: TorPeers };
    timers: { keepalive: number; hold: number; connect?: number };
    /** TCP-MD5 password on every session. */
    password?: string;
    bfd?: boolean;
    /** Nodes in the ToR's own AS (iBGP, e.g. to see LOCAL_PREF); default: every node in another AS. */
    internal?: boolean;
  };
  ospf?: {
    interfaces: string[];
    /** Point-to-point links to single nodes; else a LAN where the ToR is the designated router. */
    pointToPoint: boolean;
    hello: number;
    dead: number;
    cost?: number;
  };
}

function bgpLines(s: TorSpec, bgp: NonNullable<TorSpec['bgp']>): string[] {
  const families = s.v6 ? ([4, 6] as const) : ([4] as const);
  const lines = ['bgp route-map delay-timer 0', 'route-map NOTHING deny 10', 'exit', '!'];
  lines.push(`router bgp ${bgp.asn}`, ` bgp router-id ${s.routerId}`);
  lines.push(' no bgp ebgp-requires-policy', ' no bgp default ipv4-unicast', ' bgp bestpath as-path multipath-relax');
  for (const f of families) {
    const group = `NODES${f}`;
    const peers = bgp.peers[f]!;
    lines.push(
      ` neighbor ${group} peer-group`,
      ` neighbor ${group} remote-as ${bgp.internal ? 'internal' : 'external'}`,
      ` neighbor ${group} timers ${bgp.timers.keepalive} ${bgp.timers.hold}`,
      ...(bgp.timers.connect ? [` neighbor ${group} timers connect ${bgp.timers.connect}`] : []),
      ` neighbor ${group} advertisement-interval 0`,
      ...(bgp.password ? [` neighbor ${group} password ${bgp.password}`] : []),
      ...(bgp.bfd ? [` neighbor ${group} bfd`, ` neighbor ${group} bfd profile lab`] : []),
      ...('listen' in peers
        ? [` bgp listen range ${peers.listen} peer-group ${group}`]
        : peers.neighbors.map((a) => ` neighbor ${a} peer-group ${group}`)),
    );
  }
  for (const f of families) {
    lines.push(
      ` address-family ipv${f} unicast`,
      `  neighbor NODES${f} activate`,
      `  neighbor NODES${f} route-map NOTHING out`,
      `  maximum-paths ${MAX_PATHS}`,
      ...(bgp.internal ? [`  maximum-paths ibgp ${MAX_PATHS}`] : []),
      ' exit-address-family',
    );
  }
  lines.push('exit', '!');
  if (bgp.bfd)
    lines.push('bfd', ' profile lab', '  receive-interval 100', '  transmit-interval 100', ' exit', 'exit', '!');
  return lines;
}

function ospfLines(s: TorSpec, ospf: NonNullable<TorSpec['ospf']>): string[] {
  const lines: string[] = [];
  // the same settings for OSPFv2 (ip ospf) and OSPFv3 (ipv6 ospf6)
  const perInterface = (p: string) => [
    ` ${p} area 0.0.0.0`,
    ...(ospf.pointToPoint ? [` ${p} network point-to-point`] : [` ${p} priority 255`]),
    ` ${p} hello-interval ${ospf.hello}`,
    ` ${p} dead-interval ${ospf.dead}`,
    ...(ospf.cost ? [` ${p} cost ${ospf.cost}`] : []),
  ];
  for (const name of ospf.interfaces) {
    lines.push(
      `interface ${name}`,
      ...perInterface('ip ospf'),
      ...(s.v6 ? perInterface('ipv6 ospf6') : []),
      'exit',
      '!',
    );
  }
  for (const router of s.v6 ? ['ospf', 'ospf6'] : ['ospf']) {
    lines.push(`router ${router}`, ` ${router} router-id ${s.routerId}`, ` maximum-paths ${MAX_PATHS}`, 'exit', '!');
  }
  return lines;
}

export function renderTor(s: TorSpec): string {
  const lines = ['frr defaults traditional', `hostname ${s.hostname}`, 'log stdout informational', '!'];
  if (s.bgp) lines.push(...bgpLines(s, s.bgp));
  if (s.ospf) lines.push(...ospfLines(s, s.ospf));
  return lines.join('\n') + '\n';
}

/** FRR daemons a ToR needs besides zebra. */
export function torDaemons(s: TorSpec): FrrDaemon[] {
  if (s.ospf) return ['ospfd', ...(s.v6 ? (['ospf6d'] as const) : [])];
  return ['bgpd', ...(s.bgp?.bfd ? (['bfdd'] as const) : [])];
}

/** The lab's ToR: every node on one LAN bridge. */
export function labTorSpec(plan: LabPlan): TorSpec {
  const o = plan.options;
  const v6 = plan.lan.v6;
  return {
    hostname: plan.torNetns,
    routerId: plan.tor.ipv4,
    v6: !!v6,
    ...(o.protocol === 'bgp'
      ? {
          bgp: {
            asn: o.torASN,
            peers: { 4: { listen: plan.lan.v4 }, ...(v6 ? { 6: { listen: v6 } } : {}) },
            timers: BGP_TIMERS,
            bfd: o.bfd,
          },
        }
      : {
          ospf: {
            interfaces: [plan.lanBridge],
            pointToPoint: false,
            hello: OSPF_TIMERS.hello,
            dead: OSPF_TIMERS.dead,
          },
        }),
  };
}
