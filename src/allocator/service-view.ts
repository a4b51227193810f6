// The newest version of each Service the allocator knows of: the watch cache, or, until the cache
// catches up, the object returned by our own last write (or the takeover LIST). Deciding on an older
// version would undo our own write or hand out an address the previous leader just wrote.
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import type { WatchedCache } from '../k8s/informer.ts';
import { serviceKey } from './request.ts';

/** resourceVersions are etcd revisions: compare numerically when both are integers. */
const rvOf = (o: KubernetesObject | undefined) => {
  const rv = o?.metadata?.resourceVersion;
  return rv && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
};

export class ServiceView {
  readonly #cache: WatchedCache<V1Service>;
  readonly #fresher = new Map<string, V1Service>();

  constructor(cache: WatchedCache<V1Service>) {
    this.#cache = cache;
  }

  get(key: string): V1Service | undefined {
    const [ns, name] = key.split('/') as [string, string];
    const cached = this.#cache.get(name, ns);
    const mine = this.#fresher.get(key);
    if (!mine) return cached;
    const a = rvOf(cached);
    const b = rvOf(mine);
    if (cached && (a === undefined || b === undefined || a >= b)) {
      this.#fresher.delete(key);
      return cached;
    }
    return mine;
  }

  /** What our own write returned. */
  wrote(svc: V1Service): void {
    this.#fresher.set(serviceKey(svc), svc);
  }

  /** A LISTed version, kept only when the cache has an older one (or none). */
  listed(svc: V1Service): void {
    const cached = this.#cache.get(svc.metadata!.name!, svc.metadata!.namespace);
    if (!cached || (rvOf(cached) ?? 0n) < (rvOf(svc) ?? 0n)) this.wrote(svc);
  }

  /** Follows a watch event; true when it is the echo of our own last write (nothing new to decide). */
  observe(svc: V1Service | undefined, kind: 'add' | 'update' | 'delete' | 'relist'): boolean {
    if (kind === 'relist') this.#fresher.clear();
    if (!svc) return false;
    const key = serviceKey(svc);
    if (kind === 'delete') this.#fresher.delete(key);
    const echo =
      kind === 'update' && this.#fresher.get(key)?.metadata?.resourceVersion === svc.metadata?.resourceVersion;
    if (echo) this.#fresher.delete(key);
    return echo;
  }
}
