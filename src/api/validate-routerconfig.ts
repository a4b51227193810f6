// RouterConfig: which routing daemon a node runs and how it advertises the node's virtual addresses.
// parseRouterConfig turns the wire object into a normalised, fully validated config; only that
// config ever reaches a template or the GoBGP API (src/routing/), so every string that can reach a
// daemon config is checked here against a pattern that cannot express daemon syntax.
import { INTERFACE_PATTERN } from './names.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import { canonicalIP, parseIP, type Family } from './ip.ts';
import { describeObject, type Problem } from './validation.ts';
import { LABEL_KEY, LABEL_VALUE, parseLabelSelector, type LabelSelector } from '../model/label-selector.ts';

export const DAEMONS = ['bird', 'frr', 'gobgp'] as const;
export const PROTOCOLS = ['bgp', 'ospf'] as const;
export const OSPF_MODES = ['stub', 'external'] as const;
export const OSPF_NETWORK_TYPES = ['broadcast', 'point-to-point'] as const;
export const FAMILIES = ['ipv4', 'ipv6'] as const;
export type Daemon = (typeof DAEMONS)[number];
export type RoutingProtocol = (typeof PROTOCOLS)[number];
export type AddressFamily = (typeof FAMILIES)[number];

export const MAX_ASN = 4294967294;
export const MAX_PEERS = 32;
export const MAX_COMMUNITIES = 32;
export const MAX_OSPF_INTERFACES = 16;
/** FRR gives each entry its own route-map sequence number below the catch-all 10 (see templates/frr). */
export const MAX_ADVERTISEMENTS = 9;
export const MAX_AS_PATH_PREPEND = 8;
/** Linux interface names: at most 15 characters, no whitespace, quotes, slashes or braces. */
export { INTERFACE_PATTERN };
export const COMMUNITY_PATTERN = '^[0-9]{1,5}:[0-9]{1,5}$';
/** An advertisement's communities, as MetalLB writes them: "asn:value" or "large:global:data1:data2". */
export const ADVERTISEMENT_COMMUNITY_PATTERN = '^([0-9]{1,5}:[0-9]{1,5}|large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10})$';
export const ADVERTISEMENT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
/** Free text shown by the daemons; no quotes, semicolons, braces, '!' or '#', so it cannot end a statement. */
export const DESCRIPTION_PATTERN = '^[A-Za-z0-9 _.,:/@()+=-]{0,80}$';

export interface PasswordSecretRef {
  name: string;
  /** Key inside the Secret's data; default "password". */
  key: string;
}

export interface BgpPeer {
  address: string;
  family: Family;
  asn: number;
  port: number;
  passwordSecretRef?: PasswordSecretRef;
  /** eBGP multihop TTL; undefined = directly connected. */
  multihop?: number;
  holdTime: number;
  keepaliveTime: number;
  bfd: boolean;
  gracefulRestart: boolean;
  description?: string;
}

/** Routing attributes of the Services an advertisement selects; a field left out keeps the config-wide value. */
export interface BgpAdvertisement {
  /** For logs and the daemon configs; default "adv-<index+1>". */
  name: string;
  /** Services whose labels match (undefined: any labels). */
  serviceSelector?: LabelSelector;
  /** Services allocated from one of these ServiceGroups (undefined: any group). */
  serviceGroups?: string[];
  /** Standard communities "asn:value" (replace spec.bgp.communities for these Services). */
  communities?: string[];
  /** Large communities "global:data1:data2" (written "large:..." in the spec). */
  largeCommunities?: string[];
  localPref?: number;
  /** How many extra times the local AS is prepended to the AS path. */
  asPathPrepend?: number;
}

export interface BgpConfig {
  localASN: number;
  routerID?: string;
  peers: BgpPeer[];
  /** Standard communities "asn:value" added to every advertised address. */
  communities: string[];
  localPref?: number;
  /** Per-Service attributes; the first entry that selects a Service wins. Absent when not given. */
  advertisements?: BgpAdvertisement[];
}

export interface OspfConfig {
  /** Area id in dotted form, e.g. "0.0.0.0". */
  area: string;
  mode: (typeof OSPF_MODES)[number];
  /** Type-2 external metric (mode external). */
  metric: number;
  /** Cost of the uplink interfaces. */
  cost: number;
  helloInterval: number;
  deadInterval: number;
  networkType: (typeof OSPF_NETWORK_TYPES)[number];
  interfaces: string[];
}

export interface RouterConfigSpec {
  nodeSelector: Record<string, string>;
  daemon: Daemon;
  protocol: RoutingProtocol;
  bgp?: BgpConfig;
  ospf?: OspfConfig;
}

export interface RouterConfig extends KubernetesObject {
  spec?: unknown;
  status?: { nodes?: Record<string, unknown> };
}

type Raw = Record<string, unknown>;

class Checker {
  readonly problems: Problem[] = [];
  readonly object: string;
  constructor(object: string) {
    this.object = object;
  }
  fail(field: string, message: string): undefined {
    this.problems.push({ object: this.object, field, message });
    return undefined;
  }
  obj(v: unknown, field: string): Raw | undefined {
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return this.fail(field, 'must be an object');
    return v as Raw;
  }
  int(v: unknown, field: string, min: number, max: number, dflt?: number): number | undefined {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      return this.fail(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return v;
  }
  bool(v: unknown, field: string): boolean {
    if (v === undefined) return false;
    if (typeof v !== 'boolean') return this.fail(field, `must be true or false, got ${JSON.stringify(v)}`) ?? false;
    return v;
  }
  oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[], dflt?: T): T | undefined {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      return this.fail(field, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${JSON.stringify(v)}`);
    }
    return v as T;
  }
  pattern(v: unknown, field: string, re: RegExp, hint: string): string | undefined {
    if (typeof v !== 'string' || !re.test(v)) return this.fail(field, `${hint}, got ${JSON.stringify(v)}`);
    return v;
  }
  ip(v: unknown, field: string): string | undefined {
    const canonical = typeof v === 'string' ? canonicalIP(v) : undefined;
    return (
      canonical ??
      this.fail(
        field,
        `must be an IPv4 or IPv6 address literal such as 192.168.1.1 or fd00::1, got ${JSON.stringify(v)}`,
      )
    );
  }
  list(v: unknown, field: string, max: number): unknown[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) return this.fail(field, 'must be a list') ?? [];
    if (v.length > max) return this.fail(field, `has ${v.length} entries; at most ${max} are allowed`) ?? [];
    return v;
  }
}

function parsePassword(c: Checker, v: unknown, field: string): PasswordSecretRef | undefined {
  const o = c.obj(v, field);
  if (!o) return undefined;
  const name = c.pattern(
    o.name,
    `${field}.name`,
    SECRET_NAME,
    "must be the name of a Secret in the RouterConfig's namespace",
  );
  const key =
    o.key === undefined
      ? 'password'
      : c.pattern(
          o.key,
          `${field}.key`,
          SECRET_KEY,
          'must be a key of the Secret\'s data (letters, digits, "-", "_", ".")',
        );
  return name && key ? { name, key } : undefined;
}

function parsePeer(c: Checker, v: unknown, field: string, daemon: Daemon): BgpPeer | undefined {
  const o = c.obj(v, field);
  if (!o) return c.fail(field, 'must be an object with at least address and asn');
  const address = c.ip(o.address, `${field}.address`);
  const asn = c.int(o.asn, `${field}.asn`, 1, MAX_ASN);
  const port = c.int(o.port, `${field}.port`, 1, 65535, 179);
  const multihop = c.int(o.multihop, `${field}.multihop`, 1, 255);
  const holdTime = c.int(o.holdTime, `${field}.holdTime`, 3, 65535, 90);
  const keepaliveTime = c.int(
    o.keepaliveTime,
    `${field}.keepaliveTime`,
    1,
    21845,
    Math.max(1, Math.floor((holdTime ?? 90) / 3)),
  );
  if (holdTime !== undefined && keepaliveTime !== undefined && keepaliveTime >= holdTime) {
    c.fail(`${field}.keepaliveTime`, `must be less than holdTime (${holdTime}); usually holdTime/3`);
  }
  const bfd = c.bool(o.bfd, `${field}.bfd`);
  if (bfd && daemon === 'gobgp') c.fail(`${field}.bfd`, 'GoBGP has no BFD; remove bfd or use daemon bird or frr');
  const gracefulRestart = c.bool(o.gracefulRestart, `${field}.gracefulRestart`);
  const passwordSecretRef =
    o.passwordSecretRef === undefined ? undefined : parsePassword(c, o.passwordSecretRef, `${field}.passwordSecretRef`);
  const description =
    o.description === undefined
      ? undefined
      : c.pattern(
          o.description,
          `${field}.description`,
          new RegExp(DESCRIPTION_PATTERN),
          'must be at most 80 letters, digits, blanks or _.,:/@()+=- (no quotes, ";", braces, "!" or "#")',
        );
  const family: Family | undefined = address ? parseIP(address)!.family : undefined;
  const families = c
    .list(o.families, `${field}.families`, 2)
    .map((f, i) => c.oneOf(f, `${field}.families[${i}]`, FAMILIES));
  const own: AddressFamily | undefined = family && (family === 4 ? 'ipv4' : 'ipv6');
  for (const [i, f] of families.entries()) {
    if (f && own && f !== own) {
      c.fail(
        `${field}.families[${i}]`,
        `a peer at ${address} carries ${own} only; add a separate peer with an ${f === 'ipv4' ? 'IPv4' : 'IPv6'} address for ${f}`,
      );
    }
  }
  if (
    !address ||
    !family ||
    asn === undefined ||
    port === undefined ||
    holdTime === undefined ||
    keepaliveTime === undefined
  )
    return undefined;
  return {
    address,
    family,
    asn,
    port,
    holdTime,
    keepaliveTime,
    bfd,
    gracefulRestart,
    ...(passwordSecretRef ? { passwordSecretRef } : {}),
    ...(multihop !== undefined ? { multihop } : {}),
    ...(description ? { description } : {}),
  };
}

/** A standard community "asn:value" with both halves 0..65535. */
function parseCommunity(c: Checker, x: unknown, f: string): string | undefined {
  const s = c.pattern(
    x,
    f,
    new RegExp(COMMUNITY_PATTERN),
    'must be a standard community "asn:value" such as "65000:100"',
  );
  if (s && s.split(':').some((n) => Number(n) > 65535)) return c.fail(f, `both halves of ${s} must be 0..65535`);
  return s;
}

const isIBGP = (p: BgpPeer, localASN: number) => p.asn === localASN;

// eslint-disable-next-line max-lines-per-function -- one advertisement entry read field by field, each reported where it is read
function parseAdvertisement(
  c: Checker,
  v: unknown,
  field: string,
  index: number,
  peers: BgpPeer[],
  localASN: number | undefined,
): BgpAdvertisement | undefined {
  const o = c.obj(v, field);
  if (!o) return c.fail(field, 'must be an object with serviceSelector and/or serviceGroups and the attributes');
  const name =
    o.name === undefined
      ? `adv-${index + 1}`
      : c.pattern(
          o.name,
          `${field}.name`,
          new RegExp(ADVERTISEMENT_NAME_PATTERN),
          'must be a DNS label (a-z, 0-9, "-")',
        );
  const serviceSelector =
    o.serviceSelector === undefined
      ? undefined
      : parseLabelSelector(o.serviceSelector, `${field}.serviceSelector`, (f, m) => c.fail(f, m));
  const serviceGroups =
    o.serviceGroups === undefined
      ? undefined
      : c
          .list(o.serviceGroups, `${field}.serviceGroups`, MAX_COMMUNITIES)
          .map((g, i) => c.pattern(g, `${field}.serviceGroups[${i}]`, SECRET_NAME, 'must be a ServiceGroup name'));
  if (o.serviceSelector === undefined && o.serviceGroups === undefined)
    c.fail(
      field,
      'selects no Service: set serviceSelector and/or serviceGroups (for every Service use spec.bgp itself)',
    );
  const standard: string[] = [];
  const large: string[] = [];
  for (const [i, x] of c.list(o.communities, `${field}.communities`, MAX_COMMUNITIES).entries()) {
    const f = `${field}.communities[${i}]`;
    if (typeof x === 'string' && x.startsWith('large:')) {
      const s = c.pattern(x, f, new RegExp(ADVERTISEMENT_COMMUNITY_PATTERN), 'must be "large:global:data1:data2"');
      if (
        s &&
        s
          .split(':')
          .slice(1)
          .some((n) => Number(n) > 4294967295)
      )
        c.fail(f, `every part of ${s} must be 0..4294967295`);
      else if (s) large.push(s.slice('large:'.length));
    } else {
      const s = parseCommunity(c, x, f);
      if (s) standard.push(s);
    }
  }
  const localPref = c.int(o.localPref, `${field}.localPref`, 0, 4294967295);
  if (localPref !== undefined && localASN !== undefined && !peers.some((p) => isIBGP(p, localASN)))
    c.fail(
      `${field}.localPref`,
      `LOCAL_PREF is only sent to iBGP peers (asn ${localASN}) and every peer here is eBGP; remove localPref or use communities that the router maps to a preference`,
    );
  const asPathPrepend = c.int(o.asPathPrepend, `${field}.asPathPrepend`, 1, MAX_AS_PATH_PREPEND);
  const ibgp = localASN === undefined ? undefined : peers.find((p) => isIBGP(p, localASN));
  if (asPathPrepend !== undefined && ibgp)
    c.fail(
      `${field}.asPathPrepend`,
      `peer ${ibgp.address} is iBGP (asn ${localASN}): it would find its own AS in the prepended path and drop the route; remove asPathPrepend or the iBGP peer`,
    );
  if (o.communities === undefined && o.localPref === undefined && o.asPathPrepend === undefined)
    c.fail(field, 'sets no attribute: give communities, localPref and/or asPathPrepend');
  if (!name || (o.serviceSelector !== undefined && !serviceSelector) || serviceGroups?.some((g) => !g))
    return undefined;
  return {
    name,
    ...(serviceSelector ? { serviceSelector } : {}),
    ...(serviceGroups ? { serviceGroups: serviceGroups as string[] } : {}),
    ...(o.communities !== undefined ? { communities: standard, largeCommunities: large } : {}),
    ...(localPref !== undefined ? { localPref } : {}),
    ...(asPathPrepend !== undefined ? { asPathPrepend } : {}),
  };
}

function parseBgp(c: Checker, v: unknown, daemon: Daemon): BgpConfig | undefined {
  const o = c.obj(v, 'spec.bgp');
  if (!o) return c.fail('spec.bgp', 'protocol bgp needs spec.bgp with localASN and peers');
  const localASN = c.int(o.localASN, 'spec.bgp.localASN', 1, MAX_ASN);
  const routerID = o.routerID === undefined ? undefined : c.ip(o.routerID, 'spec.bgp.routerID');
  if (routerID && parseIP(routerID)!.family !== 4)
    c.fail('spec.bgp.routerID', 'must be an IPv4 address (BGP router ids are 32 bits); omit it to use the node IP');
  const rawPeers = c.list(o.peers, 'spec.bgp.peers', MAX_PEERS);
  if (o.peers === undefined || (Array.isArray(o.peers) && o.peers.length === 0))
    c.fail('spec.bgp.peers', 'needs at least one peer {address, asn}');
  const peers = rawPeers.map((p, i) => parsePeer(c, p, `spec.bgp.peers[${i}]`, daemon));
  const seen = new Set<string>();
  for (const [i, p] of peers.entries()) {
    if (p && seen.has(p.address))
      c.fail(`spec.bgp.peers[${i}].address`, `peer ${p.address} is listed twice; keep one entry per peer`);
    if (p) seen.add(p.address);
  }
  const communities = c
    .list(o.communities, 'spec.bgp.communities', MAX_COMMUNITIES)
    .map((x, i) => parseCommunity(c, x, `spec.bgp.communities[${i}]`));
  const localPref = c.int(o.localPref, 'spec.bgp.localPref', 0, 4294967295);
  const okPeers = peers.filter((p): p is BgpPeer => !!p);
  const advertisements = c
    .list(o.advertisements, 'spec.bgp.advertisements', MAX_ADVERTISEMENTS)
    .map((a, i) => parseAdvertisement(c, a, `spec.bgp.advertisements[${i}]`, i, okPeers, localASN));
  const names = new Set<string>();
  for (const [i, a] of advertisements.entries()) {
    if (a && names.has(a.name))
      c.fail(`spec.bgp.advertisements[${i}].name`, `${a.name} is used twice; give each entry its own name`);
    if (a) names.add(a.name);
  }
  if (localASN === undefined || peers.some((p) => !p) || communities.some((x) => !x) || advertisements.some((a) => !a))
    return undefined;
  return {
    localASN,
    peers: peers as BgpPeer[],
    communities: communities as string[],
    ...(o.advertisements !== undefined ? { advertisements: advertisements as BgpAdvertisement[] } : {}),
    ...(routerID ? { routerID } : {}),
    ...(localPref !== undefined ? { localPref } : {}),
  };
}

/** Area ids are written either as a number (0..2^32-1) or dotted like an IPv4 address. */
function parseArea(c: Checker, v: unknown): string | undefined {
  if (v === undefined) return '0.0.0.0';
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 4294967295) {
    return [24, 16, 8, 0].map((s) => String(Math.floor(v / 2 ** s) % 256)).join('.');
  }
  const ip = typeof v === 'string' ? parseIP(v) : undefined;
  if (ip?.family === 4) return canonicalIP(v as string);
  return c.fail('spec.ospf.area', `must be a number 0..4294967295 or dotted like 0.0.0.0, got ${JSON.stringify(v)}`);
}

function parseOspf(c: Checker, v: unknown): OspfConfig | undefined {
  const o = c.obj(v, 'spec.ospf');
  if (!o) return c.fail('spec.ospf', 'protocol ospf needs spec.ospf with at least interfaces (the uplinks)');
  const area = parseArea(c, o.area);
  const mode = c.oneOf(o.mode, 'spec.ospf.mode', OSPF_MODES, 'external');
  const metric = c.int(o.metric, 'spec.ospf.metric', 1, 16777214, 20);
  const cost = c.int(o.cost, 'spec.ospf.cost', 1, 65535, 10);
  const helloInterval = c.int(o.helloInterval, 'spec.ospf.helloInterval', 1, 65535, 10);
  const deadInterval = c.int(o.deadInterval, 'spec.ospf.deadInterval', 2, 65535, (helloInterval ?? 10) * 4);
  if (helloInterval !== undefined && deadInterval !== undefined && deadInterval <= helloInterval) {
    c.fail(
      'spec.ospf.deadInterval',
      `must be greater than helloInterval (${helloInterval}); usually 4 x helloInterval`,
    );
  }
  const networkType = c.oneOf(o.networkType, 'spec.ospf.networkType', OSPF_NETWORK_TYPES, 'broadcast');
  const raw = c.list(o.interfaces, 'spec.ospf.interfaces', MAX_OSPF_INTERFACES);
  if (o.interfaces === undefined || (Array.isArray(o.interfaces) && o.interfaces.length === 0))
    c.fail('spec.ospf.interfaces', 'needs at least one uplink interface name, e.g. ["eth0"]');
  const interfaces = raw.map((x, i) =>
    c.pattern(
      x,
      `spec.ospf.interfaces[${i}]`,
      new RegExp(INTERFACE_PATTERN),
      'must be an interface name of 1..15 letters, digits, "_", "." or "-"',
    ),
  );
  if (
    !area ||
    !mode ||
    metric === undefined ||
    cost === undefined ||
    helloInterval === undefined ||
    deadInterval === undefined ||
    !networkType ||
    interfaces.some((x) => !x)
  )
    return undefined;
  return { area, mode, metric, cost, helloInterval, deadInterval, networkType, interfaces: interfaces as string[] };
}

function parseSelector(c: Checker, v: unknown): Record<string, string> {
  const o = c.obj(v, 'spec.nodeSelector') ?? {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    const f = `spec.nodeSelector[${JSON.stringify(k)}]`;
    if (!LABEL_KEY.test(k)) c.fail(f, 'is not a valid label key');
    else if (
      c.pattern(val, f, LABEL_VALUE, 'must be a label value (63 letters, digits, "-", "_", "." at most)') !== undefined
    )
      out[k] = val as string;
  }
  return out;
}

/** The normalised spec (defaults applied, IPs canonical) or the problems that prevent it. */
export function parseRouterConfig(obj: unknown): { config?: RouterConfigSpec; problems: Problem[] } {
  const o = (obj ?? {}) as { metadata?: { name?: string; namespace?: string }; spec?: unknown };
  const c = new Checker(describeObject('RouterConfig', o.metadata?.namespace, o.metadata?.name));
  const spec = c.obj(o.spec, 'spec');
  if (!spec) {
    c.fail('spec', 'is required: set daemon, protocol and bgp or ospf');
    return { problems: c.problems };
  }
  const nodeSelector = parseSelector(c, spec.nodeSelector);
  const daemon = c.oneOf(spec.daemon, 'spec.daemon', DAEMONS);
  const protocol = c.oneOf(spec.protocol, 'spec.protocol', PROTOCOLS);
  let bgp: BgpConfig | undefined;
  let ospf: OspfConfig | undefined;
  if (daemon === 'gobgp' && protocol === 'ospf') {
    c.fail('spec.protocol', 'GoBGP has no OSPF; use protocol bgp, or daemon bird or frr for OSPF');
  } else if (daemon && protocol === 'bgp') {
    bgp = parseBgp(c, spec.bgp, daemon);
    if (spec.ospf !== undefined)
      c.fail('spec.ospf', 'is set but protocol is bgp; remove spec.ospf or set protocol ospf');
  } else if (daemon && protocol === 'ospf') {
    ospf = parseOspf(c, spec.ospf);
    if (spec.bgp !== undefined) c.fail('spec.bgp', 'is set but protocol is ospf; remove spec.bgp or set protocol bgp');
  }
  if (c.problems.length > 0 || !daemon || !protocol) return { problems: c.problems };
  return {
    config: { nodeSelector, daemon, protocol, ...(bgp ? { bgp } : {}), ...(ospf ? { ospf } : {}) },
    problems: [],
  };
}

export function validateRouterConfig(obj: unknown): Problem[] {
  return parseRouterConfig(obj).problems;
}

/** Passwords come from Secrets at run time: printable ASCII without blanks, quotes, backslashes, "!" or "#"
 * (FRR takes the password as one unquoted word and "!"/"#" start comments; BIRD quotes it). */
export const PASSWORD_PATTERN = /^[\x24-\x5b\x5d-\x7e]{1,80}$/;
