// Who holds which address (pure). The source of truth is Service status: the controller rebuilds this
// from every Service before its first allocation, then keeps it in step with its own decisions.
// An address may be held by several Services only when they share it (same sharing key, disjoint ports).
import { formatIP, type Family, type IP } from '../api/ip.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { PoolSet } from './pools.ts';

export interface Holder {
  /** "namespace/name" */
  service: string;
  sharingKey?: string;
  /** "PROTOCOL/port" of the Service's ports */
  ports: string[];
  /** Held by a LoadBalancer Service of another class: never shareable. */
  foreign?: boolean;
}

export interface Held {
  ip: IP;
  text: string;
  /** The group the address was allocated from (kept when pool edits move it outside every pool). */
  group: string;
}

interface Use {
  ip: IP;
  holders: Map<string, Holder>;
}

export type ShareRefusal = { reason: 'in-use' | 'port-conflict'; message: string };

const textOf = (ip: IP) => formatIP(ip);
const bindingKey = (family: Family, key: string) => `${family}/${key}`;

export class AllocationState {
  #pools: PoolSet = new PoolSet([]);
  #uses = new Map<string, Use>();
  #held = new Map<string, Held[]>();
  // sharing key -> the addresses its holders use, with a holder count (normally exactly one per family)
  #keys = new Map<string, Map<string, number>>();

  get pools(): PoolSet {
    return this.#pools;
  }

  /** Replaces the serving pools; every held address stays held (pool edits never move addresses). */
  setGroups(configs: Iterable<ServiceGroupConfig>): void {
    this.#pools = new PoolSet(configs);
    for (const use of this.#uses.values()) this.#pools.markUsed(use.ip);
  }

  held(service: string): readonly Held[] {
    return this.#held.get(service) ?? [];
  }

  services(): IterableIterator<[string, readonly Held[]]> {
    return this.#held.entries();
  }

  holdersOf(ip: IP): Holder[] {
    return [...(this.#uses.get(textOf(ip))?.holders.values() ?? [])];
  }

  /**
   * The address a sharing key is bound to in a family by Services other than `except` (normally one;
   * should a rebuild find several, the first in text order, so the answer is stable).
   */
  sharedAddress(key: string, family: Family, except?: string): string | undefined {
    const addrs = [...(this.#keys.get(bindingKey(family, key))?.keys() ?? [])].sort();
    return addrs.find((text) => [...this.#uses.get(text)!.holders.keys()].some((s) => s !== except));
  }

  /** Why `holder` may not use ip, or undefined when it is free or shareable with every current holder. */
  refusal(ip: IP, holder: Holder): ShareRefusal | undefined {
    const text = textOf(ip);
    for (const h of this.holdersOf(ip)) {
      if (h.service === holder.service) continue;
      if (h.foreign || !h.sharingKey || h.sharingKey !== holder.sharingKey) {
        const how = h.foreign
          ? 'a LoadBalancer Service of another class'
          : h.sharingKey
            ? `with sharing key "${h.sharingKey}"`
            : 'without purelb.io/allow-shared-ip';
        return { reason: 'in-use', message: `${text} is in use by ${h.service} (${how})` };
      }
      const clash = holder.ports.filter((p) => h.ports.includes(p));
      if (clash.length) {
        return {
          reason: 'port-conflict',
          message: `${text} is shared with ${h.service} (key "${h.sharingKey}") and both use ${clash.join(', ')}`,
        };
      }
    }
    return undefined;
  }

  /** Registers an address for a holder (also when it conflicts: a rebuild never drops what exists). */
  hold(holder: Holder, held: Held): void {
    const use = this.#uses.get(held.text) ?? { ip: held.ip, holders: new Map<string, Holder>() };
    if (use.holders.size === 0) {
      this.#uses.set(held.text, use);
      this.#pools.markUsed(held.ip);
    }
    this.#unbind(use.holders.get(holder.service), held);
    use.holders.set(holder.service, holder);
    this.#bind(holder, held);
    const list = (this.#held.get(holder.service) ?? []).filter((h) => h.text !== held.text);
    list.push(held);
    list.sort((a, b) => a.ip.family - b.ip.family);
    this.#held.set(holder.service, list);
  }

  /** Refreshes sharing key and ports of a holder's addresses (a Service edit that moves nothing). */
  updateHolder(holder: Holder): void {
    for (const held of this.held(holder.service)) this.hold(holder, held);
  }

  /** Releases one address of a service; returns true when nobody holds it any more. */
  releaseAddress(service: string, text: string): boolean {
    const list = this.#held.get(service);
    const held = list?.find((h) => h.text === text);
    const use = this.#uses.get(text);
    if (!held || !use) return false;
    this.#unbind(use.holders.get(service), held);
    use.holders.delete(service);
    const rest = list!.filter((h) => h !== held);
    if (rest.length) this.#held.set(service, rest);
    else this.#held.delete(service);
    if (use.holders.size > 0) return false;
    this.#uses.delete(text);
    this.#pools.markFree(use.ip);
    return true;
  }

  /** Releases everything a service holds; returns the addresses it held. */
  release(service: string): Held[] {
    const held = [...this.held(service)];
    for (const h of held) this.releaseAddress(service, h.text);
    return held;
  }

  /** Held addresses that lie outside every serving pool (kept, reported). */
  outsidePools(): Array<{ service: string; held: Held }> {
    const out: Array<{ service: string; held: Held }> = [];
    for (const [service, list] of this.#held) {
      for (const held of list) if (!this.#pools.locate(held.ip)) out.push({ service, held });
    }
    return out;
  }

  #bind(holder: Holder, held: Held): void {
    if (!holder.sharingKey) return;
    const k = bindingKey(held.ip.family, holder.sharingKey);
    const addrs = this.#keys.get(k) ?? new Map<string, number>();
    addrs.set(held.text, (addrs.get(held.text) ?? 0) + 1);
    this.#keys.set(k, addrs);
  }

  #unbind(holder: Holder | undefined, held: Held): void {
    if (!holder?.sharingKey) return;
    const k = bindingKey(held.ip.family, holder.sharingKey);
    const addrs = this.#keys.get(k);
    const n = addrs?.get(held.text) ?? 0;
    if (n > 1) addrs!.set(held.text, n - 1);
    else addrs?.delete(held.text);
    if (addrs?.size === 0) this.#keys.delete(k);
  }
}
