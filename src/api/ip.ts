// Strict IP literal and CIDR parsing, plus bigint arithmetic for pools. ipaddr.js alone is too lenient
// for user input: it accepts 010.1.1.1 (octal-looking), 0x7f.1, 127.1 and zone ids; these are refused here.
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface IP {
  family: Family;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface CIDR {
  /** The address as written (host bits may be set: PureLB pools start at the address as written). */
  ip: IP;
  prefix: number;
}

const V4_OCTET = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

export const bits = (family: Family) => (family === 4 ? 32 : 128);

function strictV4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => V4_OCTET.test(p));
}

/** Parses an IPv4 dotted quad or an IPv6 literal; returns undefined for anything else. */
export function parseIP(text: string): IP | undefined {
  if (text.includes(':')) {
    if (text.includes('%') || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
    const dot = text.lastIndexOf(':');
    if (text.includes('.') && !strictV4(text.slice(dot + 1))) return undefined;
    if (!ipaddr.IPv6.isValid(text)) return undefined;
    const bytes = ipaddr.IPv6.parse(text).toByteArray();
    return { family: 6, value: bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n) };
  }
  if (!strictV4(text)) return undefined;
  return { family: 4, value: text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(o), 0n) };
}

/** Parses "address/prefix" strictly (decimal prefix without leading zeros, within the family's width). */
export function parseCIDR(text: string): CIDR | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(text.slice(0, slash));
  const len = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(len)) return undefined;
  const prefix = Number(len);
  return prefix <= bits(ip.family) ? { ip, prefix } : undefined;
}

export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  }
  const bytes: number[] = [];
  for (let i = 15n; i >= 0n; i--) bytes.push(Number((ip.value >> (i * 8n)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** Canonical text of an address literal (e.g. "fc00:0::1" -> "fc00::1"), or undefined if invalid. */
export function canonicalIP(text: string): string | undefined {
  const ip = parseIP(text);
  return ip && formatIP(ip);
}

export function networkOf(c: CIDR): { first: bigint; last: bigint } {
  const hostBits = BigInt(bits(c.ip.family) - c.prefix);
  const mask = (1n << hostBits) - 1n;
  return { first: c.ip.value & ~mask, last: c.ip.value | mask };
}

export function cidrContains(c: CIDR, ip: IP): boolean {
  if (c.ip.family !== ip.family) return false;
  const { first, last } = networkOf(c);
  return ip.value >= first && ip.value <= last;
}
