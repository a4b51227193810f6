// Interface discovery (pure): which interfaces carry local addresses, whether an address is local to
// one of them, and which subnets this node can announce. Input is what `ip -json` reports.
import { bits, cidrContains, formatIP, networkOf, parseIP, type Family, type IP } from '../api/ip.ts';

export interface KernelAddress {
  ifname: string;
  /** Canonical text of the address. */
  ip: string;
  family: Family;
  prefix: number;
  /** Seconds left; undefined = forever. */
  validLft: number | undefined;
  /** False for tentative, DAD-failed or deprecated IPv6 addresses: they do not define a subnet. */
  usable: boolean;
  /**
   * IPv4: a secondary address of its subnet (same prefix and network as an earlier address, the
   * primary). Unless promote_secondaries is on, the kernel deletes it together with the primary.
   */
  secondary?: boolean;
  /** What `ip address add` needs to put the address back exactly as it is (see plan.ts, restores). */
  attrs?: AddressAttributes;
}

export interface AddressAttributes {
  scope?: string;
  label?: string;
  broadcast?: string;
  /** Point-to-point peer; the prefix then belongs to the peer. */
  peer?: string;
  noprefixroute?: boolean;
  /** Metric of the prefix route (IFA_RT_PRIORITY). */
  metric?: number;
  /** Seconds left; undefined = forever. */
  preferredLft?: number;
}

export interface KernelLink {
  ifname: string;
  addrs: KernelAddress[];
}

export interface DefaultRoute {
  dev: string;
  metric: number;
}

/** Key of an address on an interface, as kept in the ownership record: "eth0 192.168.1.10/24". */
export const addressKey = (ifname: string, ip: string, prefix: number) => `${ifname} ${ip}/${prefix}`;

const FOREVER = 4294967295;

/** The kernel's text of each address of the last read, parsed: a reconcile reads the same 10,000 addresses
 * every time, and parsing each again was most of that read's CPU (50-70 ms of a profile). Only the last
 * read's addresses are kept, so the memo is never larger than the table. */
let parsedBefore = new Map<string, Parsed | undefined>();
type Parsed = { text: string; family: Family };

/** Parses `ip -json addr show` output. */
export function parseIpAddrJson(text: string): KernelLink[] {
  const raw = JSON.parse(text || '[]') as Array<{ ifname: string; addr_info?: Array<Record<string, unknown>> }>;
  const before = parsedBefore;
  const parsed = new Map<string, Parsed | undefined>();
  parsedBefore = parsed;
  const parseKernelIP = (local: string) => {
    let ip = before.get(local);
    if (!ip && !before.has(local)) {
      const p = parseIP(local);
      ip = p && { text: formatIP(p), family: p.family };
    }
    parsed.set(local, ip);
    return ip;
  };
  return raw.map((link) => ({
    ifname: link.ifname,
    addrs: (link.addr_info ?? []).flatMap((a): KernelAddress[] => {
      const ip = parseKernelIP(typeof a.local === 'string' ? a.local : '');
      if (!ip || (a.family !== 'inet' && a.family !== 'inet6')) return [];
      const valid =
        typeof a.valid_life_time === 'number' && a.valid_life_time !== FOREVER ? a.valid_life_time : undefined;
      const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
      const peer = text(a.address) !== undefined && a.address !== a.local ? text(a.address) : undefined;
      const attrs: AddressAttributes = {
        scope: text(a.scope),
        label: text(a.label),
        broadcast: text(a.broadcast),
        peer,
        noprefixroute: a.noprefixroute === true ? true : undefined,
        metric: typeof a.metric === 'number' ? a.metric : undefined,
        preferredLft:
          typeof a.preferred_life_time === 'number' && a.preferred_life_time !== FOREVER
            ? a.preferred_life_time
            : undefined,
      };
      return [
        {
          ifname: link.ifname,
          ip: ip.text,
          family: ip.family,
          prefix: Number(a.prefixlen),
          validLft: valid,
          usable: !a.tentative && !a.dadfailed && !a.deprecated,
          ...(ip.family === 4 ? { secondary: a.secondary === true } : {}),
          attrs: Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined)),
        },
      ];
    }),
  }));
}

/** Parses `ip -json [-6] route show default` output. */
export function parseDefaultRoutesJson(text: string): DefaultRoute[] {
  const raw = JSON.parse(text || '[]') as Array<{ dev?: string; metric?: number }>;
  return raw.filter((r) => r.dev).map((r) => ({ dev: r.dev!, metric: r.metric ?? 0 }));
}

/**
 * Interfaces that may carry local addresses of one family, in preference order: with "default" the
 * interface of the lowest-metric default route, with a regex every matching interface sorted by name.
 */
export function localInterfaces(
  localint: 'default' | RegExp,
  links: KernelLink[],
  defaultRoutes: DefaultRoute[],
  extlbint: string,
): string[] {
  if (localint === 'default') {
    const best = [...defaultRoutes].sort((a, b) => a.metric - b.metric)[0];
    return best ? [best.dev] : [];
  }
  return links
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo' && n !== extlbint && localint.test(n))
    .sort();
}

const isLinkLocal = (ip: IP) => ip.family === 6 && ip.value >> 118n === 0x3fan;

/** Addresses that define the subnets of an interface: usable, not link-local, not placed by the agent. */
function subnetAddresses(link: KernelLink | undefined, owned: ReadonlySet<string>): KernelAddress[] {
  return (link?.addrs ?? []).filter(
    (a) => a.usable && !owned.has(addressKey(a.ifname, a.ip, a.prefix)) && !isLinkLocal(parseIP(a.ip)!),
  );
}

export interface LocalPlacement {
  ifname: string;
  /** Prefix length of the interface address whose subnet contains the address. */
  prefix: number;
}

/** Where a local address goes (undefined: the address is virtual on this node). The candidates' subnets
 * are parsed once, not once per address: a reconcile places every address of 10,000 Services. */
export function localPlacer(
  candidates: string[],
  links: KernelLink[],
  owned: ReadonlySet<string>,
): (address: IP) => LocalPlacement | undefined {
  const subnets = candidates.flatMap((name) =>
    subnetAddresses(
      links.find((l) => l.ifname === name),
      owned,
    ).map((a) => ({ ifname: name, cidr: { ip: parseIP(a.ip)!, prefix: a.prefix } })),
  );
  return (address) => {
    const found = subnets.find((s) => s.cidr.ip.family === address.family && cidrContains(s.cidr, address));
    return found && { ifname: found.ifname, prefix: found.cidr.prefix };
  };
}

/** The node's own addresses on the interfaces that may carry local addresses (not the ones the agent
 * placed, not host addresses: those have no neighbours), i.e. its address on each LAN subnet. */
export function lanAddresses(candidates: string[], links: KernelLink[], owned: ReadonlySet<string>): KernelAddress[] {
  return candidates.flatMap((name) =>
    subnetAddresses(
      links.find((l) => l.ifname === name),
      owned,
    ).filter((a) => a.prefix < bits(parseIP(a.ip)!.family)),
  );
}

/** The subnets (network/prefix, canonical, sorted, unique) this node can announce local addresses in. */
export function nodeSubnets(candidates: string[], links: KernelLink[], owned: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const a of lanAddresses(candidates, links, owned)) {
    const ip = parseIP(a.ip)!;
    out.add(`${formatIP({ family: ip.family, value: networkOf({ ip, prefix: a.prefix }).first })}/${a.prefix}`);
  }
  return [...out].sort();
}
