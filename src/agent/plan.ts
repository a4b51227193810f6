// The kernel changes that take the node from what `ip -json addr` shows to the decisions (pure), and
// their `ip -batch` lines. Only addresses the agent owns are ever deleted.
import { networkOf, parseIP, type Family } from '../api/ip.ts';
import type { AddressDecision } from './desired.ts';
import { addressKey, type KernelAddress, type KernelLink } from './interfaces.ts';

export interface AddressChange {
  op: 'add' | 'del';
  ifname: string;
  ip: string;
  family: Family;
  prefix: number;
  /** 'foreign': an address someone else placed, only ever put back by a restore. */
  kind: 'local' | 'virtual' | 'orphan' | 'foreign';
  /**
   * An add that puts back, exactly as it was, a secondary IPv4 address the kernel removes together
   * with the primary of its subnet deleted on the line before (see keepSecondaries). Not a new
   * placement: never recorded as owned, no GARP, no event. Needless where promote_secondaries is on.
   */
  restore?: KernelAddress;
}

export interface PlanOptions {
  /** Valid lifetime of local addresses in seconds (0 = permanent); renewed by ./renewal.ts. */
  localLifetime: number;
}

/** A local address this node holds: what a renewal refreshes. */
export type HeldAddress = Pick<AddressChange, 'ifname' | 'ip' | 'prefix' | 'family'>;

/** Addresses already in place are left alone: their lifetime is the renewal's business (./renewal.ts). */
export function planChanges(
  decisions: AddressDecision[],
  links: KernelLink[],
  owned: ReadonlySet<string>,
): AddressChange[] {
  const present = new Map(links.flatMap((l) => l.addrs.map((a) => [addressKey(a.ifname, a.ip, a.prefix), a] as const)));
  const wanted = new Set<string>();
  const adds: AddressChange[] = [];
  for (const d of decisions.filter((x) => x.announce)) {
    const key = addressKey(d.ifname, d.ip, d.prefix);
    wanted.add(key);
    if (!present.has(key))
      adds.push({ op: 'add', ifname: d.ifname, ip: d.ip, family: d.family, prefix: d.prefix, kind: d.kind });
  }
  const kindOf = new Map(decisions.map((d) => [`${d.ifname} ${d.ip}`, d.kind]));
  const dels: AddressChange[] = [];
  for (const key of owned) {
    const a = present.get(key);
    if (a && !wanted.has(key)) {
      dels.push({
        op: 'del',
        ifname: a.ifname,
        ip: a.ip,
        family: a.family,
        prefix: a.prefix,
        kind: kindOf.get(`${a.ifname} ${a.ip}`) ?? 'orphan',
      });
    }
  }
  // Deletes first: an IPv6 address that changes prefix is one kernel address, re-added after removal.
  const restoredKind = (a: KernelAddress) =>
    owned.has(addressKey(a.ifname, a.ip, a.prefix)) ? (kindOf.get(`${a.ifname} ${a.ip}`) ?? 'orphan') : 'foreign';
  return [...keepSecondaries(dels, links, restoredKind), ...adds];
}

const sameSubnet = (a: KernelAddress, b: KernelAddress) =>
  a.family === b.family &&
  a.prefix === b.prefix &&
  networkOf({ ip: parseIP(a.ip)!, prefix: a.prefix }).first ===
    networkOf({ ip: parseIP(b.ip)!, prefix: b.prefix }).first;

/**
 * Makes deletes safe where net.ipv4.conf.{all,<dev>}.promote_secondaries is off, which the agent cannot
 * change when /proc/sys is read-only (every unprivileged container): deleting the primary IPv4 address
 * of a subnet then makes the kernel delete every secondary of that subnet on the interface too. With
 * an aggregation such as /24, the addresses of other Services on kube-lb0 are secondaries of one
 * primary, and on a LAN interface a local address may even have become the primary of the node's own
 * address. Secondaries cannot be avoided: BIRD (`protocol direct`) and FRR (`redistribute connected`)
 * advertise the prefix each address carries on kube-lb0, so aggregated addresses must share it, and
 * `noprefixroute` or labels do not change which address is primary.
 *
 * So: deletes of secondaries come first and deletes of primaries last, and right after a primary's
 * delete every secondary of its subnet that is to stay is put back as it was (in kernel order, so the
 * one the kernel would have promoted becomes the new primary), all in the same `ip -batch`. Nothing is
 * lost for longer than that batch. Where promotion is on, the restores are needless and the caller
 * drops them (they would be harmless `address replace` lines).
 */
export function keepSecondaries(
  dels: AddressChange[],
  links: KernelLink[],
  kindOf: (a: KernelAddress) => AddressChange['kind'] = () => 'foreign',
): AddressChange[] {
  if (!dels.some((c) => c.family === 4)) return dels;
  const kernel = new Map(links.flatMap((l) => l.addrs.map((a) => [addressKey(a.ifname, a.ip, a.prefix), a] as const)));
  const primary = (c: AddressChange) =>
    c.family === 4 && kernel.get(addressKey(c.ifname, c.ip, c.prefix))?.secondary === false;
  const deleted = new Set(dels.map((c) => addressKey(c.ifname, c.ip, c.prefix)));
  const out = dels.filter((c) => !primary(c));
  for (const c of dels.filter(primary)) {
    out.push(c);
    const gone = kernel.get(addressKey(c.ifname, c.ip, c.prefix))!;
    const link = links.find((l) => l.ifname === c.ifname);
    for (const a of link?.addrs ?? []) {
      if (!a.secondary || !sameSubnet(a, gone) || deleted.has(addressKey(a.ifname, a.ip, a.prefix))) continue;
      out.push({
        op: 'add',
        ifname: a.ifname,
        ip: a.ip,
        family: a.family,
        prefix: a.prefix,
        kind: kindOf(a),
        restore: a,
      });
    }
  }
  return out;
}

/** The line that puts an address back with the attributes `ip -json` showed (a restore). */
function restoreLine(a: KernelAddress): string {
  const x = a.attrs ?? {};
  const forever = (s: number | undefined) => (s === undefined ? 'forever' : String(s));
  return [
    `address replace ${x.peer ? `${a.ip} peer ${x.peer}` : a.ip}/${a.prefix} dev ${a.ifname}`,
    x.broadcast ? `broadcast ${x.broadcast}` : '',
    x.scope ? `scope ${x.scope}` : '',
    x.label && x.label !== a.ifname ? `label ${x.label}` : '',
    x.metric !== undefined ? `metric ${x.metric}` : '',
    x.noprefixroute ? 'noprefixroute' : '',
    a.validLft !== undefined || x.preferredLft !== undefined
      ? `valid_lft ${forever(a.validLft)} preferred_lft ${forever(x.preferredLft)}`
      : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * The lifetime flags of a local address. An IPv6 local address goes in deprecated (preferred_lft 0): it
 * still answers, but the kernel never picks it as a source, so a routing daemon's session (and its next
 * hop) keeps the node's own address.
 */
function localLifetimeFlags(family: Family, lifetimeS: number): string {
  const valid = lifetimeS > 0 ? String(lifetimeS) : 'forever';
  if (family === 6) return `valid_lft ${valid} preferred_lft 0`;
  return lifetimeS > 0 ? `valid_lft ${valid} preferred_lft ${valid}` : '';
}

/** One `ip -batch` line per change. IPv6 goes in with nodad: DAD would hold a taken-over address tentative. */
export function batchLine(c: AddressChange, opts: PlanOptions): string {
  const cidr = `${c.ip}/${c.prefix}`;
  if (c.restore) return restoreLine(c.restore);
  if (c.op === 'del') return `address del ${cidr} dev ${c.ifname}`;
  const flags = [
    c.family === 6 ? 'nodad' : '',
    c.kind === 'local' ? localLifetimeFlags(c.family, opts.localLifetime) : '',
  ];
  return [`address replace ${cidr} dev ${c.ifname}`, ...flags.filter(Boolean)].join(' ');
}

/**
 * The line that refreshes the lifetime of a held local address in place. `address change` and
 * `address replace` are the same kernel request for an address in place (RTM_NEWADDR with
 * NLM_F_REPLACE): the lifetime restarts, nothing is removed, no ARP is sent. For a missing address
 * both add it (the kernel ignores the missing NLM_F_CREATE), which is why a renewal only ever covers
 * addresses the last reconcile holds and never runs beside a batch that withdraws one.
 */
export function renewalLine(a: HeldAddress, lifetimeS: number): string {
  return [
    `address change ${a.ip}/${a.prefix} dev ${a.ifname}`,
    a.family === 6 ? 'nodad' : '',
    localLifetimeFlags(a.family, lifetimeS),
  ]
    .filter(Boolean)
    .join(' ');
}
