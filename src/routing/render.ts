// Renders the BIRD or FRR configuration of one node from a validated RouterConfig (pure: no I/O besides
// reading the templates once). Handlebars runs with noEscape (daemon configs are not HTML) and strict
// (a missing field throws); every value was validated by src/api/validate-routerconfig.ts and is
// additionally passed through a quoting helper that refuses anything that could end a statement.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import { parseCIDR, parseIP } from '../api/ip.ts';
import { prefixAdvertisements, routeAttributes, type AddressServices, type RouteAttributes } from './attributes.ts';
import {
  INTERFACE_PATTERN,
  PASSWORD_PATTERN,
  type BgpPeer,
  type OspfConfig,
  type RouterConfigSpec,
} from '../api/validate-routerconfig.ts';

export interface NodeRoutingInput {
  config: RouterConfigSpec;
  nodeName: string;
  /** The node's primary address (downward API status.hostIP): default router id and BGP source. */
  nodeIP: string;
  /** Interface that holds the virtual addresses. */
  kubeInterface: string;
  /** Peer address -> TCP-MD5 password, resolved from passwordSecretRef by the controller. */
  passwords: Record<string, string>;
  /** The Services behind each virtual address, for spec.bgp.advertisements (none: config-wide attributes). */
  services?: AddressServices;
}

export class RenderError extends Error {}

const templateDir = new URL('../../templates/', import.meta.url);

const hb = Handlebars.create();
/** BIRD string literal. BIRD 2.0.12's lexer has no escapes inside strings (`"a\"b"` is a syntax error), so
 * a double quote or a line break cannot be quoted at all and is refused; everything else is inert inside. */
hb.registerHelper('birdstr', (v: unknown) => {
  const s = String(v);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/["\x00-\x1f\x7f]/.test(s))
    throw new RenderError(
      `refusing to render ${JSON.stringify(s)} as a BIRD string (quotes and control characters cannot be quoted)`,
    );
  return `"${s}"`;
});
/** One FRR token: FRR has no quoting, so anything with blanks or control characters is refused. */
hb.registerHelper('frrword', (v: unknown) => {
  const s = String(v);
  if (!/^[\x21-\x7e]+$/.test(s)) throw new RenderError(`refusing to render ${JSON.stringify(s)} as one FRR word`);
  return s;
});
/** The rest of an FRR line (descriptions): no line breaks. */
hb.registerHelper('frrline', (v: unknown) => {
  const s = String(v);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\x00-\x1f\x7f]/.test(s)) throw new RenderError(`refusing to render control characters in ${JSON.stringify(s)}`);
  return s;
});

const compileOptions = { noEscape: true, strict: true } as const;

/** Blocks shared by several templates of one daemon (templates/<daemon>/partials/<name>.hbs), registered
 * as "<daemon>/<name>" once, before the first template runs. They ship with the templates directory. */
let partialsRegistered = false;
function registerPartials(): void {
  if (partialsRegistered) return;
  for (const daemon of ['bird', 'frr'] as const) {
    const dir = new URL(`${daemon}/partials/`, templateDir);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.hbs'))) {
      const text = readFileSync(new URL(file, dir), 'utf8');
      hb.registerPartial(`${daemon}/${file.slice(0, -'.hbs'.length)}`, hb.compile(text, compileOptions));
    }
  }
  partialsRegistered = true;
}

const cache = new Map<string, Handlebars.TemplateDelegate>();
/** A template typed by the context it receives (Handlebars itself takes any object). */
function template<C>(name: string): (ctx: C) => string {
  let t = cache.get(name);
  if (!t) {
    registerPartials();
    t = hb.compile(readFileSync(new URL(name, templateDir), 'utf8'), compileOptions);
    cache.set(name, t);
  }
  return t;
}

/** The IPv4 router id: spec.bgp.routerID, else the node IP (which then must be IPv4; OSPF always uses it). */
export function routerID(input: NodeRoutingInput): string {
  const id = input.config.bgp?.routerID ?? input.nodeIP;
  if (parseIP(id)?.family !== 4) {
    const fix =
      input.config.protocol === 'bgp'
        ? 'set spec.bgp.routerID to an IPv4 address'
        : 'OSPF takes the router id from the node IP: give the agent an IPv4 --node-ip';
    throw new RenderError(`node ${input.nodeName} has IP ${input.nodeIP}, which cannot be a router id: ${fix}`);
  }
  return id;
}

/** Checks what the controller adds to a validated RouterConfig (node IP, interface, passwords). */
export function checkInput(input: NodeRoutingInput): void {
  if (!parseIP(input.nodeIP)) throw new RenderError(`node IP ${JSON.stringify(input.nodeIP)} is not an IP address`);
  if (!new RegExp(INTERFACE_PATTERN).test(input.kubeInterface)) {
    throw new RenderError(`interface ${JSON.stringify(input.kubeInterface)} is not a valid interface name`);
  }
  for (const [peer, pw] of Object.entries(input.passwords)) {
    if (!PASSWORD_PATTERN.test(pw)) {
      throw new RenderError(
        `password for peer ${peer} must be 1..80 printable characters without blanks, quotes, backslashes, "!" or "#"`,
      );
    }
  }
}

/** What the templates receive. Every field is a validated value or derived from one; the templates
 * quote free text through the helpers above. */
interface CommonContext {
  node: string;
  routerID: string;
  kubeInterface: string;
}

interface PeerContext extends BgpPeer {
  /** BIRD protocol name, unique and safe: peer_1, peer_2 ... */
  name: string;
  customPort: boolean;
  /** Source address for the session when the node IP has the peer's family. */
  local?: string;
  password?: string;
  multihopTTL?: number;
}

function peerContexts(input: NodeRoutingInput): PeerContext[] {
  const nodeFamily = parseIP(input.nodeIP)!.family;
  return (input.config.bgp?.peers ?? []).map((p, i) => {
    const password = p.passwordSecretRef ? input.passwords[p.address] : undefined;
    if (p.passwordSecretRef && password === undefined) {
      throw new RenderError(
        `password of peer ${p.address} (Secret ${p.passwordSecretRef.name}, key ${p.passwordSecretRef.key}) is not available`,
      );
    }
    if (input.config.daemon === 'bird' && p.multihop !== undefined && p.bfd && p.family !== nodeFamily) {
      throw new RenderError(
        `peer ${p.address}: BIRD needs a local address of the peer's family for multihop BFD, but the node IP is ${input.nodeIP}; drop bfd or multihop for this peer`,
      );
    }
    return {
      ...p,
      name: `peer_${i + 1}`,
      customPort: p.port !== 179,
      ...(p.family === nodeFamily ? { local: input.nodeIP } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(p.multihop !== undefined ? { multihopTTL: p.multihop } : {}),
    };
  });
}

export interface RenderedConfig {
  daemon: 'bird' | 'frr';
  text: string;
  /** sha256 of text: what status reports as the applied config. */
  hash: string;
}

export const configHash = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** One set of route attributes in both daemons' syntax (the partials route-attributes.hbs render it). */
interface AttributesContext {
  /** BIRD community pairs "(65000,100)" */
  birdCommunities: string[];
  /** BIRD large community triples "(65000,1,2)" */
  birdLargeCommunities: string[];
  /** FRR takes "65000:100" as is: the communities separated by blanks */
  communities: string;
  /** FRR "65000:1:2 65000:1:3" */
  largeCommunities: string;
  localPref: number | false;
  /** The local AS once per prepended copy: BIRD prepends them one by one, FRR takes the list. */
  prependASNs: number[];
  asPathPrepend: string;
}

/** An advertisement entry with the prefixes of one family that it decides. */
interface AdvertisementContext extends AttributesContext {
  name: string;
  /** FRR route-map sequence number: below the catch-all 10, in list order. */
  seq: number;
  prefixes: Array<{ prefix: string; seq: number }>;
  /** BIRD prefix set "10.96.0.10/32, 10.97.0.0/24" */
  birdPrefixSet: string;
}

interface BgpContext extends CommonContext, AttributesContext {
  localASN: number;
  peers: PeerContext[];
  v4Peers: PeerContext[];
  v6Peers: PeerContext[];
  anyBFD: boolean;
  multihopBFD: boolean;
  /** spec.bgp.advertisements is set (even if no Service is selected yet) */
  advertising: boolean;
  /** BIRD: the families with a pipe and table of their own (always both: peers may be added later) */
  families: number[];
  v4Advertisements: AdvertisementContext[];
  v6Advertisements: AdvertisementContext[];
}

interface OspfContext extends CommonContext, OspfConfig {
  stub: boolean;
  ptp: boolean;
}

function bgpContext(input: NodeRoutingInput, common: CommonContext): BgpContext {
  const bgp = input.config.bgp!;
  const peers = peerContexts(input);
  return {
    ...common,
    localASN: bgp.localASN,
    peers,
    v4Peers: peers.filter((p) => p.family === 4),
    v6Peers: peers.filter((p) => p.family === 6),
    anyBFD: peers.some((p) => p.bfd),
    multihopBFD: peers.some((p) => p.bfd && p.multihop !== undefined),
    ...attributesContext(routeAttributes(bgp), bgp.localASN),
    advertising: !!bgp.advertisements?.length,
    families: [4, 6],
    v4Advertisements: advertisementContexts(input, 4),
    v6Advertisements: advertisementContexts(input, 6),
  };
}

function attributesContext(a: RouteAttributes, localASN: number): AttributesContext {
  const prependASNs = Array.from({ length: a.asPathPrepend }, () => localASN);
  return {
    birdCommunities: a.communities.map((c) => `(${c.replaceAll(':', ',')})`),
    birdLargeCommunities: a.largeCommunities.map((c) => `(${c.replaceAll(':', ',')})`),
    communities: a.communities.join(' '),
    largeCommunities: a.largeCommunities.join(' '),
    localPref: a.localPref ?? false,
    prependASNs,
    asPathPrepend: prependASNs.join(' '),
  };
}

/** FRR prefix-list lines with a sequence number derived from the prefix alone: adding or removing one
 * prefix then leaves every other line as it is, so frr-reload never rewrites the line of a prefix that did
 * not change (a renumbered line would briefly drop that prefix to the config-wide attributes). A rare
 * collision takes the next free number. */
function prefixListEntries(prefixes: string[]): Array<{ prefix: string; seq: number }> {
  const used = new Set<number>();
  return prefixes
    .map((prefix) => {
      let seq = (createHash('sha256').update(prefix).digest().readUInt32BE(0) % 4294967294) + 1;
      while (used.has(seq)) seq = (seq % 4294967294) + 1;
      used.add(seq);
      return { prefix, seq };
    })
    .sort((a, b) => a.seq - b.seq); // the order FRR shows them in
}

/** The entries that decide at least one prefix of the family, in list order, with those prefixes. */
function advertisementContexts(input: NodeRoutingInput, family: 4 | 6): AdvertisementContext[] {
  const bgp = input.config.bgp!;
  const decided = prefixAdvertisements(bgp, input.services ?? {});
  return (bgp.advertisements ?? []).flatMap((entry, i) => {
    const prefixes = [...decided]
      .filter(([p, a]) => a === entry && parseCIDR(p)?.ip.family === family)
      .map(([p]) => p)
      .sort();
    if (prefixes.length === 0) return [];
    return [
      {
        name: entry.name,
        seq: i + 1,
        prefixes: prefixListEntries(prefixes),
        birdPrefixSet: prefixes.join(', '),
        ...attributesContext(routeAttributes(bgp, entry), bgp.localASN),
      },
    ];
  });
}

function ospfContext(input: NodeRoutingInput, common: CommonContext): OspfContext {
  const ospf = input.config.ospf!;
  return { ...common, ...ospf, stub: ospf.mode === 'stub', ptp: ospf.networkType === 'point-to-point' };
}

/** The BIRD or FRR configuration for one node; throws RenderError for daemon gobgp or bad inputs. */
export function renderNodeConfig(input: NodeRoutingInput): RenderedConfig {
  checkInput(input);
  const { config } = input;
  if (config.daemon === 'gobgp') throw new RenderError('daemon gobgp is driven over gRPC and has no config file');
  const common: CommonContext = { node: input.nodeName, routerID: routerID(input), kubeInterface: input.kubeInterface };
  const name = `${config.daemon}/${config.protocol}.conf.hbs`;
  const text =
    config.protocol === 'bgp'
      ? template<BgpContext>(name)(bgpContext(input, common))
      : template<OspfContext>(name)(ospfContext(input, common));
  return { daemon: config.daemon, text, hash: configHash(text) };
}
