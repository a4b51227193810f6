// A WatchedCache held in memory: the test decides what the watch has delivered, and when.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WatchedCache } from '../../../src/k8s/informer.ts';

type Kind = 'add' | 'update' | 'delete' | 'relist';

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class MemoryCache<T extends KubernetesObject> implements WatchedCache<T> {
  readonly synced = Promise.resolve();
  readonly #objects = new Map<string, T>();
  readonly #handlers: Array<(obj: T | undefined, kind: Kind) => void> = [];

  isSynced(): boolean {
    return true;
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

  async stop(): Promise<void> {}

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
