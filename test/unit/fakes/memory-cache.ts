// A WatchedCache held in memory: the test decides what the watch has delivered, and when.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WatchedCache } from '../../../src/k8s/informer.ts';

type Kind = 'add' | 'update' | 'delete' | 'relist';

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class MemoryCache<T extends KubernetesObject> implements WatchedCache<T> {
  readonly synced: Promise<void>;
  readonly #objects = new Map<string, T>();
  readonly #handlers: Array<(obj: T | undefined, kind: Kind) => void> = [];
  #synced: boolean;
  #resolveSynced!: () => void;
  stopped = false;

  /** `listed: false` makes a cache whose first LIST has not come back yet (see listed()). */
  constructor(opts: { listed?: boolean } = {}) {
    this.#synced = opts.listed ?? true;
    this.synced = new Promise((r) => (this.#resolveSynced = r));
    if (this.#synced) this.#resolveSynced();
  }

  isSynced(): boolean {
    return this.#synced;
  }

  /** The first LIST came back with these objects: synced, and a relist notification. */
  listed(objects: T[] = []): void {
    for (const o of objects) this.#objects.set(keyOf(o), o);
    this.#synced = true;
    this.#resolveSynced();
    for (const h of this.#handlers) h(undefined, 'relist');
  }

  list(): readonly T[] {
    return [...this.#objects.values()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#objects.get(`${namespace ?? ''}/${name}`);
  }

  onChange(handler: (obj: T | undefined, kind: Kind) => void): void {
    this.#handlers.push(handler);
  }

  idleMs(): number {
    return 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  /** Delivers an add or update event. */
  put(obj: T): void {
    const kind = this.#objects.has(keyOf(obj)) ? 'update' : 'add';
    this.#objects.set(keyOf(obj), obj);
    for (const h of this.#handlers) h(obj, kind);
  }

  /** Delivers a delete event. */
  remove(obj: T): void {
    this.#objects.delete(keyOf(obj));
    for (const h of this.#handlers) h(obj, 'delete');
  }
}
