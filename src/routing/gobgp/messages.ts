// Pure builders of the GoBGP 3.x API objects for a RouterConfig (proto-loader plain objects, keepCase):
// global settings, peers, the import policy and the paths of the node's addresses.
import { createHash } from 'node:crypto';
import { parseCIDR, formatIP } from '../../api/ip.ts';
import type { BgpConfig, BgpPeer } from '../../api/validate-routerconfig.ts';
import { prefixAdvertisements, routeAttributes, type AddressServices, type RouteAttributes } from '../attributes.ts';

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
const communityValues = (a: RouteAttributes): number[] =>
  a.communities.map((c) => {
    const [hi, lo] = c.split(':').map(Number);
    return hi! * 65536 + lo!;
  });

const largeCommunityValues = (a: RouteAttributes) =>
  a.largeCommunities.map((c) => {
    const [global_admin, local_data1, local_data2] = c.split(':').map(Number);
    return { global_admin, local_data1, local_data2 };
  });

/** Path attributes of one prefix: origin IGP (as BIRD/FRR nodes, for ECMP), communities, local pref and
 * the prepended local AS (gobgpd adds its own AS once more towards eBGP peers, as BIRD and FRR do). */
function pathAttributes(a: RouteAttributes, localASN: number): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [{ '@type': `${ANY}OriginAttribute`, origin: 0 }];
  if (a.asPathPrepend > 0)
    out.push({
      '@type': `${ANY}AsPathAttribute`,
      segments: [{ type: 'AS_SEQUENCE', numbers: Array.from({ length: a.asPathPrepend }, () => localASN) }],
    });
  if (a.communities.length) out.push({ '@type': `${ANY}CommunitiesAttribute`, communities: communityValues(a) });
  if (a.largeCommunities.length)
    out.push({ '@type': `${ANY}LargeCommunitiesAttribute`, communities: largeCommunityValues(a) });
  if (a.localPref !== undefined) out.push({ '@type': `${ANY}LocalPrefAttribute`, local_pref: a.localPref });
  return out;
}

const pathAttributesKey = (communities: number[], large: string[], localPref: number | undefined, prepend: number) =>
  JSON.stringify({
    c: [...communities].sort((x, y) => x - y),
    g: [...large].sort(),
    l: localPref ?? null,
    p: prepend,
  });

/** The attributes the backend varies per prefix, comparable with listedPathAttributes: a path whose key
 * differs must be re-sent, one whose key matches is left alone. */
export const wantedPathAttributes = (a: RouteAttributes) =>
  pathAttributesKey(communityValues(a), a.largeCommunities, a.localPref, a.asPathPrepend);

/** The same key for a path as ListPath returns it (pattrs decoded from Any, '@type' names the message). */
export function listedPathAttributes(pattrs: Array<Record<string, unknown>> = []): string {
  const of = (type: string) => pattrs.find((a) => a['@type'] === `${ANY}${type}`);
  const communities = (of('CommunitiesAttribute')?.communities as number[] | undefined) ?? [];
  const large = (of('LargeCommunitiesAttribute')?.communities as Array<Record<string, unknown>> | undefined) ?? [];
  const localPref = of('LocalPrefAttribute')?.local_pref as number | undefined;
  const segments = (of('AsPathAttribute')?.segments as Array<{ numbers?: unknown[] }> | undefined) ?? [];
  return pathAttributesKey(
    communities.map(Number),
    large.map((l) => `${Number(l.global_admin)}:${Number(l.local_data1)}:${Number(l.local_data2)}`),
    localPref === undefined ? undefined : Number(localPref),
    segments.reduce((n, s) => n + (s.numbers?.length ?? 0), 0),
  );
}

/** A path for one prefix. The next hop is left unspecified so that gobgpd uses the session's own
 * local address towards each eBGP peer (IPv4 via NEXT_HOP, IPv6 via MP_REACH_NLRI). */
export function pathMessage(cidr: string, a: RouteAttributes, localASN: number, withdraw = false) {
  const c = parseCIDR(cidr);
  if (!c) throw new Error(`not a CIDR: ${cidr}`);
  const nlri = { '@type': `${ANY}IPAddressPrefix`, prefix: formatIP(c.ip), prefix_len: c.prefix };
  const v4 = c.ip.family === 4;
  const pattrs = [
    ...pathAttributes(a, localASN),
    v4
      ? { '@type': `${ANY}NextHopAttribute`, next_hop: '0.0.0.0' }
      : { '@type': `${ANY}MpReachNLRIAttribute`, family: V6, next_hops: ['::'], nlris: [nlri] },
  ];
  return { family: v4 ? V4 : V6, nlri, pattrs, ...(withdraw ? { is_withdraw: true } : {}) };
}

/** Each prefix with the attributes spec.bgp and its advertisements give it. */
export function prefixAttributes(bgp: BgpConfig, prefixes: string[], services: AddressServices) {
  const decided = prefixAdvertisements(bgp, services);
  return new Map(prefixes.map((p) => [p, routeAttributes(bgp, decided.get(p))]));
}

/** What decides whether advertised paths must be re-sent (attributes changed). */
export const attributesKey = (bgp: BgpConfig) =>
  JSON.stringify({ c: bgp.communities, l: bgp.localPref ?? null, a: bgp.advertisements ?? [] });

/** The gRPC calls that bring an empty gobgpd to the desired state: what `purelb render` prints for
 * daemon gobgp (the backend issues the same requests, minus those that are already in place). */
export function gobgpCallPlan(
  bgp: BgpConfig,
  routerID: string,
  passwords: Record<string, string>,
  addresses: string[],
  services: AddressServices = {},
) {
  const attrs = prefixAttributes(bgp, addresses, services);
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
            request: {
              table_type: 'GLOBAL',
              paths: addresses.map((a) => pathMessage(a, attrs.get(a)!, bgp.localASN)),
            },
          },
        ]
      : []),
  ];
}
