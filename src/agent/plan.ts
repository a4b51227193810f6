// The kernel changes that take the node from what `ip -json addr` shows to the decisions (pure), and
// their `ip -batch` lines. Only addresses the agent owns are ever deleted.
import type { Family } from '../api/ip.ts';
import type { AddressDecision } from './desired.ts';
import { addressKey, type KernelLink } from './interfaces.ts';

export interface AddressChange {
  op: 'add' | 'del';
  ifname: string;
  ip: string;
  family: Family;
  prefix: number;
  kind: 'local' | 'virtual' | 'orphan';
  /** An add that only refreshes the lifetime of an address already in place (no GARP for it). */
  renew?: boolean;
}

export interface PlanOptions {
  /** Valid lifetime of local addresses in seconds (0 = permanent); renewed when half is used. */
  localLifetime: number;
}

export function planChanges(decisions: AddressDecision[], links: KernelLink[], owned: ReadonlySet<string>,
  opts: PlanOptions): AddressChange[] {
  const present = new Map(links.flatMap((l) => l.addrs.map((a) => [addressKey(a.ifname, a.ip, a.prefix), a] as const)));
  const wanted = new Set<string>();
  const adds: AddressChange[] = [];
  for (const d of decisions.filter((x) => x.announce)) {
    const key = addressKey(d.ifname, d.ip, d.prefix);
    wanted.add(key);
    const current = present.get(key);
    const base = { op: 'add' as const, ifname: d.ifname, ip: d.ip, family: d.family, prefix: d.prefix, kind: d.kind };
    if (!current) {
      adds.push(base);
    } else if (d.kind === 'local' && opts.localLifetime > 0 && owned.has(key)
      && (current.validLft === undefined || current.validLft < opts.localLifetime / 2)) {
      adds.push({ ...base, renew: true });
    }
  }
  const kindOf = new Map(decisions.map((d) => [`${d.ifname} ${d.ip}`, d.kind]));
  const dels: AddressChange[] = [];
  for (const key of owned) {
    const a = present.get(key);
    if (a && !wanted.has(key)) {
      dels.push({ op: 'del', ifname: a.ifname, ip: a.ip, family: a.family, prefix: a.prefix, kind: kindOf.get(`${a.ifname} ${a.ip}`) ?? 'orphan' });
    }
  }
  // Deletes first: an IPv6 address that changes prefix is one kernel address, re-added after removal.
  return [...dels, ...adds];
}

/** One `ip -batch` line per change. IPv6 goes in with nodad: DAD would hold a taken-over address tentative. */
export function batchLine(c: AddressChange, opts: PlanOptions): string {
  const cidr = `${c.ip}/${c.prefix}`;
  if (c.op === 'del') return `address del ${cidr} dev ${c.ifname}`;
  const flags = [c.family === 6 ? 'nodad' : '',
    c.kind === 'local' && opts.localLifetime > 0 ? `valid_lft ${opts.localLifetime} preferred_lft ${opts.localLifetime}` : '']
    .filter(Boolean);
  return [`address replace ${cidr} dev ${c.ifname}`, ...flags].join(' ');
}
