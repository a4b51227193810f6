// MetalLB BGPPeers, BGPAdvertisements, BFDProfiles and Communities to RouterConfigs (pure).
// A RouterConfig selects nodes with one label set and the most specific one wins on a node, so there is
// one RouterConfig per distinct peer node selector, holding every peer whose selector it implies.
import { API_VERSION } from '../api/names.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Daemon } from '../api/validate-routerconfig.ts';
import { describeObject } from '../api/validation.ts';
import type { MappedPool, Selections } from './metallb-pools.ts';
import {
  advertisementAttributes,
  importedRoutes,
  type ImportedAdvertisement,
  type ImportedRoutes,
  type PoolAdvertisements,
} from './metallb-route-attributes.ts';
import { describeSource, isRecord, type Report, type SourceObject } from './report.ts';

export interface BgpInput {
  peers: readonly SourceObject[];
  /** Each BGPAdvertisement and the pools it selects. */
  advertisements: Selections;
  bfdProfiles: readonly SourceObject[];
  communities: readonly SourceObject[];
}

type Selector = Record<string, string>;

const GO_DURATION = /^(?:(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns))+$/;
const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };

/** Seconds of a Go duration ("90s", "1m30s"), or a reason it cannot be used. */
export function durationSeconds(v: unknown): number | string {
  if (typeof v !== 'string' || !GO_DURATION.test(v)) return `${JSON.stringify(v)} is not a duration like "90s"`;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  const rounded = Math.round(total * 1000) / 1000;
  return Number.isInteger(rounded) ? rounded : `${v} is not a whole number of seconds`;
}

/** One Kubernetes LabelSelector as a label map; matchExpressions only as `key In [one value]`. */
function selectorMap(sel: unknown, at: string, object: string, report: Report): Selector | undefined {
  if (!isRecord(sel)) return {};
  const out: Selector = { ...((isRecord(sel.matchLabels) ? sel.matchLabels : {}) as Selector) };
  const exprs = Array.isArray(sel.matchExpressions) ? sel.matchExpressions : [];
  for (const [i, e] of exprs.entries()) {
    if (isRecord(e) && e.operator === 'In' && Array.isArray(e.values) && e.values.length === 1) {
      out[String(e.key)] = String(e.values[0]);
      continue;
    }
    report.note(
      object,
      `${at}.matchExpressions[${i}]`,
      'a RouterConfig nodeSelector is a label map: only "In" with one value can be expressed; not mapped',
    );
    return undefined;
  }
  return out;
}

/** The node selector of a MetalLB object (nodeSelectors: any of several) as one label map, or undefined. */
function nodeSelectorOf(obj: SourceObject, report: Report): Selector | undefined {
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const list = Array.isArray(spec.nodeSelectors) ? spec.nodeSelectors : [];
  if (list.length === 0) return {};
  if (list.length > 1)
    report.note(
      describeSource(obj),
      'spec.nodeSelectors',
      `${list.length} selectors (any of them) cannot be expressed: a RouterConfig selects nodes with one label map; only nodeSelectors[0] is used`,
    );
  return selectorMap(list[0], 'spec.nodeSelectors[0]', describeSource(obj), report);
}

const implies = (specific: Selector, general: Selector) => Object.entries(general).every(([k, v]) => specific[k] === v);
const selectorKey = (s: Selector) => JSON.stringify(Object.entries(s).sort());

const PEER_SPEC_KEYS = [
  'myASN',
  'peerASN',
  'dynamicASN',
  'peerAddress',
  'interface',
  'sourceAddress',
  'peerPort',
  'holdTime',
  'keepaliveTime',
  'connectTime',
  'routerID',
  'nodeSelectors',
  'password',
  'passwordSecret',
  'bfdProfile',
  'enableGracefulRestart',
  'ebgpMultiHop',
  'vrf',
  'disableMP',
  'dualStackAddressFamily',
];
const UNSUPPORTED_PEER_FIELDS: Record<string, string> = {
  dynamicASN: 'a RouterConfig peer needs a fixed asn; set peerASN',
  interface: 'unnumbered BGP (peering over an interface) is not supported; give the peer address',
  sourceAddress: 'the daemon picks the source address from the route to the peer',
  connectTime: 'the daemons use their own connect retry timer',
  vrf: 'VRFs are not supported; peers are reached in the default table',
  disableMP: 'each RouterConfig peer carries the family of its own address only',
  dualStackAddressFamily:
    'each RouterConfig peer carries the family of its own address only; add a peer with an address of the other family',
};
/** ebgpMultiHop has no TTL in MetalLB; the daemons' "multihop" without a TTL means 255. */
const MULTIHOP_TTL = 255;

interface Peer {
  source: SourceObject;
  selector: Selector;
  myASN: number;
  routerID?: string;
  wire: Record<string, unknown>;
}

// eslint-disable-next-line max-lines-per-function -- one BGPPeer mapped field by field: each field is mapped or reported right where it is read
function mapPeer(
  p: SourceObject,
  opts: BgpOptions,
  profiles: readonly SourceObject[],
  report: Report,
): Peer | undefined {
  const object = describeSource(p);
  const spec = isRecord(p.spec) ? p.spec : {};
  report.unknownFields(object, spec, PEER_SPEC_KEYS, 'spec');
  for (const [key, reason] of Object.entries(UNSUPPORTED_PEER_FIELDS))
    if (spec[key] !== undefined && spec[key] !== false && spec[key] !== '')
      report.note(object, `spec.${key}`, `not mapped: ${reason}`);
  if (typeof spec.peerAddress !== 'string' || typeof spec.peerASN !== 'number' || typeof spec.myASN !== 'number') {
    report.note(object, 'spec', 'needs peerAddress, peerASN and myASN to become a RouterConfig peer; not mapped');
    return undefined;
  }
  const selector = nodeSelectorOf(p, report);
  if (!selector) return undefined;
  const wire: Record<string, unknown> = { address: spec.peerAddress, asn: spec.peerASN };
  if (typeof spec.peerPort === 'number' && spec.peerPort !== 179) wire.port = spec.peerPort;
  for (const key of ['holdTime', 'keepaliveTime'] as const) {
    if (spec[key] === undefined) continue;
    const s = durationSeconds(spec[key]);
    if (typeof s === 'string') report.note(object, `spec.${key}`, `${s}; not mapped (default used)`);
    else if (key === 'holdTime' && s === 0)
      report.note(
        object,
        'spec.holdTime',
        '0 (no keepalives) is not supported: holdTime is 3..65535 s; not mapped (default 90 s)',
      );
    else wire[key] = s;
  }
  if (spec.ebgpMultiHop === true) wire.multihop = MULTIHOP_TTL;
  if (spec.enableGracefulRestart === true) wire.gracefulRestart = true;
  if (typeof spec.password === 'string' && spec.password !== '')
    report.note(
      object,
      'spec.password',
      `not mapped: RouterConfig passwords come from a Secret; create one in namespace ${opts.namespace} with the password under key "password" and set passwordSecretRef`,
    );
  const secret = isRecord(spec.passwordSecret) ? spec.passwordSecret : undefined;
  if (secret && typeof secret.name === 'string' && secret.name !== '') {
    wire.passwordSecretRef = { name: secret.name, key: 'password' };
    const from =
      typeof secret.namespace === 'string' && secret.namespace !== '' ? secret.namespace : p.metadata?.namespace;
    if (from !== opts.namespace)
      report.note(
        object,
        'spec.passwordSecret',
        `the RouterConfig reads Secret ${secret.name} from its own namespace ${opts.namespace}: copy it there from ${from ?? 'the MetalLB namespace'} (key "password")`,
      );
  }
  if (typeof spec.bfdProfile === 'string' && spec.bfdProfile !== '') {
    if (opts.daemon === 'gobgp')
      report.note(object, 'spec.bfdProfile', 'not mapped: GoBGP has no BFD; use --daemon bird or frr for BFD');
    else {
      wire.bfd = true;
      if (!profiles.some((b) => b.metadata?.name === spec.bfdProfile))
        report.note(
          object,
          'spec.bfdProfile',
          `BFDProfile "${spec.bfdProfile}" is not in the input; BFD is on with the daemon's default timers`,
        );
    }
  }
  wire.description = `from MetalLB BGPPeer ${p.metadata?.name ?? ''}`.slice(0, 80);
  return {
    source: p,
    selector,
    myASN: spec.myASN,
    ...(typeof spec.routerID === 'string' && spec.routerID !== '' ? { routerID: spec.routerID } : {}),
    wire,
  };
}

const BFD_TIMER_FIELDS = [
  'receiveInterval',
  'transmitInterval',
  'detectMultiplier',
  'echoInterval',
  'echoMode',
  'passiveMode',
  'minimumTtl',
];

function checkBfdProfiles(profiles: readonly SourceObject[], peers: readonly SourceObject[], report: Report) {
  for (const b of profiles) {
    const used = peers.some((p) => isRecord(p.spec) && p.spec.bfdProfile === b.metadata?.name);
    const spec = isRecord(b.spec) ? b.spec : {};
    if (!used) continue;
    for (const key of Object.keys(spec))
      report.note(
        describeSource(b),
        `spec.${key}`,
        BFD_TIMER_FIELDS.includes(key)
          ? "not mapped: a RouterConfig peer has bfd on or off only; the daemon's default BFD timers apply"
          : 'unknown field; not mapped',
      );
  }
}

const AD_SPEC_KEYS = [
  'aggregationLength',
  'aggregationLengthV6',
  'localPref',
  'communities',
  'ipAddressPools',
  'ipAddressPoolSelectors',
  'nodeSelectors',
  'peers',
];

/** The aggregation length this advertisement gives a virtual range of the pool other than a host route, if any. */
function aggregatedLength(spec: Record<string, unknown>, pool: MappedPool): string | undefined {
  const v4 = spec.aggregationLength ?? 32;
  const v6 = spec.aggregationLengthV6 ?? 128;
  if (v4 !== 32 && pool.ranges.some((r) => !r.local && r.family === 4)) return JSON.stringify(v4);
  if (v6 !== 128 && pool.ranges.some((r) => !r.local && r.family === 6)) return JSON.stringify(v6);
  return undefined;
}

/** Per-advertisement checks, then the route attributes of the advertised virtual pools. */
function mapAdvertisements(input: BgpInput, pools: readonly MappedPool[], report: Report): ImportedRoutes {
  const advertised = new Map<MappedPool, PoolAdvertisements['ads']>();
  for (const [ad, selected] of input.advertisements) {
    const object = describeSource(ad);
    const spec = isRecord(ad.spec) ? ad.spec : {};
    report.unknownFields(object, spec, AD_SPEC_KEYS, 'spec');
    if (spec.aggregationLength !== undefined && spec.aggregationLength !== 32)
      report.note(
        object,
        'spec.aggregationLength',
        `${JSON.stringify(spec.aggregationLength)} not mapped: set aggregation: /N on the pools of the imported ServiceGroup (the prefix the agent places and the daemons advertise)`,
      );
    if (spec.aggregationLengthV6 !== undefined && spec.aggregationLengthV6 !== 128)
      report.note(
        object,
        'spec.aggregationLengthV6',
        `${JSON.stringify(spec.aggregationLengthV6)} not mapped: set aggregation: /N on the v6 pools of the imported ServiceGroup (the prefix the agent places and the daemons advertise)`,
      );
    if (Array.isArray(spec.peers) && spec.peers.length > 0)
      report.note(object, 'spec.peers', 'not mapped: a RouterConfig advertises every virtual address to all its peers');
    const attributes = advertisementAttributes(ad, input.communities, report);
    for (const p of selected) {
      for (const r of p.ranges.filter((x) => x.local))
        report.note(
          object,
          'spec',
          `pool ${p.name} range ${r.pool} is on a node subnet: here it is announced with ARP/NDP by one node and not advertised over BGP`,
        );
      if (!p.ranges.some((r) => !r.local)) continue;
      const length = aggregatedLength(spec, p);
      if (length && (attributes.communities.length || attributes.localPref !== undefined))
        report.note(
          object,
          'spec',
          `communities/localPref not mapped for pool ${p.name}: they go with its aggregated route (/${length}), which is not imported; the host routes are sent without them`,
        );
      const kept = length ? { communities: [] } : attributes;
      advertised.set(p, [...(advertised.get(p) ?? []), { source: ad, attributes: kept }]);
    }
  }
  if (input.advertisements.size > 0)
    for (const p of pools.filter((x) => !advertised.has(x) && x.ranges.some((r) => !r.local)))
      report.note(
        describeSource(p.source),
        'spec',
        'no BGPAdvertisement selects this pool, so MetalLB did not advertise it; a RouterConfig advertises every virtual address',
      );
  // in pool order, so the entries follow the input
  const inOrder = pools.filter((p) => advertised.has(p)).map((pool) => ({ pool, ads: advertised.get(pool)! }));
  return importedRoutes(inOrder, report);
}

/**
 * The advertisements of a RouterConfig whose peers are all eBGP lose their localPref: LOCAL_PREF is sent to
 * iBGP peers only (by MetalLB too), and the validator refuses it there. An entry left with no attribute goes.
 */
function advertisementsFor(
  routes: ImportedRoutes,
  ibgp: boolean,
  config: string,
  report: Report,
): Omit<ImportedAdvertisement, 'from'>[] {
  return routes.advertisements.flatMap(({ from, ...a }) => {
    if (ibgp || a.localPref === undefined) return [a];
    report.notes.push(
      `${config}: advertisement ${a.name} (from BGPAdvertisement ${from.join(', ')}) leaves out localPref ${a.localPref}: every peer is eBGP and LOCAL_PREF goes to iBGP peers only, as in MetalLB`,
    );
    const { localPref: _dropped, ...rest } = a;
    return rest.communities ? [rest] : [];
  });
}

export interface BgpOptions {
  namespace: string;
  daemon?: Daemon;
}

/** RouterConfig name for a selector: "metallb" for all nodes, else "metallb-" and the name of its first own peer. */
const configName = (selector: Selector, own: Peer) =>
  Object.keys(selector).length === 0 ? 'metallb' : `metallb-${own.source.metadata?.name ?? 'peers'}`.slice(0, 253);

// eslint-disable-next-line max-lines-per-function -- one pass over the MetalLB BGP kinds: each object is mapped or reported right where it is read
export function mapBgp(
  input: BgpInput,
  pools: readonly MappedPool[],
  opts: BgpOptions,
  report: Report,
): KubernetesObject[] {
  if (input.peers.length === 0) {
    for (const ad of input.advertisements.keys())
      report.note(
        describeSource(ad),
        'spec',
        'no BGPPeer in the input, so no RouterConfig was made for this advertisement',
      );
    return [];
  }
  if (!opts.daemon) {
    for (const p of input.peers)
      report.note(describeSource(p), 'spec', 'not mapped: choose the routing daemon with --daemon bird|frr|gobgp');
    return [];
  }
  const peers = input.peers.map((p) => mapPeer(p, opts, input.bfdProfiles, report)).filter((p): p is Peer => !!p);
  checkBfdProfiles(input.bfdProfiles, input.peers, report);
  const routes = mapAdvertisements(input, pools, report);
  if (input.advertisements.size === 0)
    report.note(
      '(input)',
      'BGPAdvertisement',
      'none in the input: MetalLB advertised nothing to these peers, the RouterConfigs advertise every virtual address',
    );

  const selectors = [...new Map(peers.map((p) => [selectorKey(p.selector), p.selector])).values()];
  for (const [i, a] of selectors.entries())
    for (const b of selectors.slice(i + 1))
      if (!implies(a, b) && !implies(b, a))
        report.note(
          '(input)',
          'spec.nodeSelectors',
          `nodes labelled both ${selectorKey(a)} and ${selectorKey(b)} get only one RouterConfig (the most specific selector, ties by name), not the peers of both`,
        );
  const configs: KubernetesObject[] = [];
  for (const selector of selectors) {
    const members = peers.filter((p) => implies(selector, p.selector));
    // the peers written for exactly these nodes name the RouterConfig and set its ASN
    const own = members.find((p) => selectorKey(p.selector) === selectorKey(selector))!;
    const asn = own.myASN;
    const same = members.filter((p) => p.myASN === asn);
    for (const p of members.filter((x) => x.myASN !== asn))
      report.note(
        describeSource(p.source),
        'spec.myASN',
        `${p.myASN} differs from ${asn} of the other peers on the same nodes; a RouterConfig has one localASN; not mapped there`,
      );
    const routerIDs = [...new Set(same.map((p) => p.routerID).filter((r) => r !== undefined))];
    if (routerIDs.length > 1)
      report.note(
        '(input)',
        'spec.routerID',
        `peers on the same nodes set different routerIDs (${routerIDs.join(', ')}); not mapped (the node IP is used)`,
      );
    const name = configName(selector, own);
    const advertisements = advertisementsFor(
      routes,
      same.some((p) => p.wire.asn === asn),
      describeObject('RouterConfig', opts.namespace, name),
      report,
    );
    configs.push({
      apiVersion: API_VERSION,
      kind: 'RouterConfig',
      metadata: { name, namespace: opts.namespace },
      spec: {
        ...(Object.keys(selector).length ? { nodeSelector: selector } : {}),
        daemon: opts.daemon,
        protocol: 'bgp',
        bgp: {
          localASN: asn,
          ...(routerIDs.length === 1 ? { routerID: routerIDs[0] } : {}),
          peers: same.map((p) => p.wire),
          ...(routes.communities.length ? { communities: routes.communities } : {}),
          ...(routes.localPref !== undefined ? { localPref: routes.localPref } : {}),
          ...(advertisements.length ? { advertisements } : {}),
        },
      },
    } as KubernetesObject);
  }
  return configs;
}
