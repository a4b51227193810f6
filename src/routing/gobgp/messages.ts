// Pure builders of the GoBGP 3.x API objects for a RouterConfig (proto-loader plain objects, keepCase):
// global settings, peers, the import policy and the paths of the node's addresses.
import { createHash } from 'node:crypto';
import { parseCIDR, formatIP } from '../../api/ip.ts';
import type { BgpConfig, BgpPeer } from '../../api/validate-routerconfig.ts';

const ANY = 'type.googleapis.com/apipb.';
export const V4 = { afi: 'AFI_IP', safi: 'SAFI_UNICAST' };
export const V6 = { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' };

/** gobgpd's global settings: no BGP listener (the node only connects out), multipath off. */
export const globalConfig = (asn: number, routerID: string) => ({
  asn,
  router_id: routerID,
  listen_port: -1,
  listen_addresses: [] as string[],
});

/** The global import policy drops what peers send us, but must accept our own (local) paths: GoBGP
 * applies the global import policy to locally added paths as well. */
export const ACCEPT_LOCAL_POLICY = {
  name: 'purelb-accept-local',
  statements: [
    { name: 'purelb-local', conditions: { route_type: 'ROUTE_TYPE_LOCAL' }, actions: { route_action: 'ACCEPT' } },
  ],
};
export const importAssignment = () => ({
  name: 'global',
  direction: 'IMPORT',
  policies: [{ name: ACCEPT_LOCAL_POLICY.name }],
  default_action: 'REJECT',
});

/** Fingerprint of everything that defines a peer; stored in the peer's description to detect changes. */
export const peerFingerprint = (p: BgpPeer, localASN: number, password: string | undefined) =>
  `purelb:${createHash('sha256')
    .update(JSON.stringify({ ...p, localASN, password: password ?? '' }))
    .digest('hex')
    .slice(0, 16)}`;

export function peerMessage(p: BgpPeer, localASN: number, password: string | undefined) {
  return {
    conf: {
      neighbor_address: p.address,
      peer_asn: p.asn,
      local_asn: localASN,
      description: peerFingerprint(p, localASN, password),
      ...(password ? { auth_password: password } : {}),
    },
    timers: {
      config: { hold_time: String(p.holdTime), keepalive_interval: String(p.keepaliveTime), connect_retry: '5' },
    },
    transport: { remote_port: p.port, passive_mode: false },
    ...(p.multihop !== undefined ? { ebgp_multihop: { enabled: true, multihop_ttl: p.multihop } } : {}),
    ...(p.gracefulRestart ? { graceful_restart: { enabled: true, restart_time: 120 } } : {}),
    afi_safis: [{ config: { family: p.family === 4 ? V4 : V6, enabled: true } }],
  };
}

/** Standard communities "hi:lo" as the 32-bit values of the COMMUNITIES attribute. */
const communityValues = (bgp: BgpConfig): number[] =>
  bgp.communities.map((c) => {
    const [hi, lo] = c.split(':').map(Number);
    return hi! * 65536 + lo!;
  });

/** Path attributes shared by every address: origin IGP (as BIRD/FRR nodes, for ECMP), communities, local pref. */
function commonAttributes(bgp: BgpConfig): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [{ '@type': `${ANY}OriginAttribute`, origin: 0 }];
  if (bgp.communities.length) out.push({ '@type': `${ANY}CommunitiesAttribute`, communities: communityValues(bgp) });
  if (bgp.localPref !== undefined) out.push({ '@type': `${ANY}LocalPrefAttribute`, local_pref: bgp.localPref });
  return out;
}

const pathAttributesKey = (communities: number[], localPref: number | undefined) =>
  JSON.stringify({ c: [...communities].sort((a, b) => a - b), l: localPref ?? null });

/** The attributes the backend varies per RouterConfig (communities, local pref), comparable with
 * listedPathAttributes: a path whose key differs must be re-sent, one whose key matches is left alone. */
export const wantedPathAttributes = (bgp: BgpConfig) => pathAttributesKey(communityValues(bgp), bgp.localPref);

/** The same key for a path as ListPath returns it (pattrs decoded from Any, '@type' names the message). */
export function listedPathAttributes(pattrs: Array<Record<string, unknown>> = []): string {
  const of = (type: string) => pattrs.find((a) => a['@type'] === `${ANY}${type}`);
  const communities = (of('CommunitiesAttribute')?.communities as number[] | undefined) ?? [];
  const localPref = of('LocalPrefAttribute')?.local_pref as number | undefined;
  return pathAttributesKey(communities.map(Number), localPref === undefined ? undefined : Number(localPref));
}

/** A path for one host prefix. The next hop is left unspecified so that gobgpd uses the session's own
 * local address towards each eBGP peer (IPv4 via NEXT_HOP, IPv6 via MP_REACH_NLRI). */
export function pathMessage(cidr: string, bgp: BgpConfig, withdraw = false) {
  const c = parseCIDR(cidr);
  if (!c) throw new Error(`not a CIDR: ${cidr}`);
  const nlri = { '@type': `${ANY}IPAddressPrefix`, prefix: formatIP(c.ip), prefix_len: c.prefix };
  const v4 = c.ip.family === 4;
  const pattrs = [
    ...commonAttributes(bgp),
    v4
      ? { '@type': `${ANY}NextHopAttribute`, next_hop: '0.0.0.0' }
      : { '@type': `${ANY}MpReachNLRIAttribute`, family: V6, next_hops: ['::'], nlris: [nlri] },
  ];
  return { family: v4 ? V4 : V6, nlri, pattrs, ...(withdraw ? { is_withdraw: true } : {}) };
}

/** What decides whether advertised paths must be re-sent (attributes changed). */
export const attributesKey = (bgp: BgpConfig) => JSON.stringify({ c: bgp.communities, l: bgp.localPref ?? null });

/** The gRPC calls that bring an empty gobgpd to the desired state: what `purelb render` prints for
 * daemon gobgp (the backend issues the same requests, minus those that are already in place). */
export function gobgpCallPlan(
  bgp: BgpConfig,
  routerID: string,
  passwords: Record<string, string>,
  addresses: string[],
) {
  return [
    { method: 'StartBgp', request: { global: globalConfig(bgp.localASN, routerID) } },
    { method: 'AddPolicy', request: { policy: ACCEPT_LOCAL_POLICY } },
    { method: 'SetPolicyAssignment', request: { assignment: importAssignment() } },
    ...bgp.peers.map((p) => ({
      method: 'AddPeer',
      request: { peer: peerMessage(p, bgp.localASN, passwords[p.address]) },
    })),
    ...(addresses.length
      ? [
          {
            method: 'AddPathStream',
            request: { table_type: 'GLOBAL', paths: addresses.map((a) => pathMessage(a, bgp)) },
          },
        ]
      : []),
  ];
}
