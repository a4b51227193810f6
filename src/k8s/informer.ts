// A client-node informer that keeps itself running. client-node's ListWatch stops for good after any
// error other than 410/timeout (a failed LIST, 403, 404 of a CRD not served yet, connection refused), so
// this wrapper restarts it with capped exponential backoff and reports when the cache first synced.
// It also bounds what the cache costs in memory: the LIST comes in pages, and an optional `trim` drops
// what the caller never reads from every object as it arrives (list pages and watch events alike).
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../log.ts';

export interface WatchedCache<T extends KubernetesObject> {
  /** Resolves after the first successful LIST. */
  synced: Promise<void>;
  isSynced(): boolean;
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  /** Called on add/update/delete (after the cache changed) and after every (re)list. */
  onChange(handler: (obj: T | undefined, kind: 'add' | 'update' | 'delete' | 'relist') => void): void;
  /** Milliseconds since the last successful connect or event; for liveness checks. */
  idleMs(): number;
  stop(): Promise<void>;
}

export interface InformerOptions {
  labelSelector?: string;
  /** Sent with the WATCH; the list function must apply the same selector to its LIST. */
  fieldSelector?: string;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface CacheOptions<T> extends InformerOptions {
  /** Changes an object in place to what the caller reads: the cache then holds only that. */
  trim?: (obj: T) => void;
}

/** Pagination of a LIST; a list function may ignore it (small lists) or pass it on to the API call. */
export interface ListPage {
  limit: number;
  _continue?: string;
}

export type PagedList<T extends KubernetesObject> = (page: ListPage) => Promise<KubernetesListObject<T>>;

/** Objects per LIST page: a LIST of 10,000 Services never has them all untrimmed in memory at once. */
export const LIST_PAGE_SIZE = 500;

/** The whole list, fetched page by page and each page trimmed before the next; the resourceVersion is
 * the first page's (all pages of a paginated LIST are one consistent snapshot). */
export async function listAll<T extends KubernetesObject>(
  listFn: PagedList<T>,
  trim?: (obj: T) => void,
): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  let first: KubernetesListObject<T> | undefined;
  let page: ListPage = { limit: LIST_PAGE_SIZE };
  for (;;) {
    const got = await listFn(page);
    first ??= got;
    for (const o of got.items) {
      trim?.(o);
      items.push(o);
    }
    const next = got.metadata?._continue;
    if (!next) break;
    page = { limit: LIST_PAGE_SIZE, _continue: next };
  }
  return { ...first, metadata: { resourceVersion: first.metadata?.resourceVersion }, items };
}

// eslint-disable-next-line max-lines-per-function -- a factory: the returned cache methods share the ListWatch and its restart state
export function watchCache<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  listFn: PagedList<T>,
  log: Logger,
  opts: CacheOptions<T> = {},
): WatchedCache<T> {
  const { trim } = opts;
  const informer = new ListWatch<T>(
    path,
    new Watch(kc),
    () => listAll(listFn, trim),
    false,
    opts.labelSelector,
    opts.fieldSelector,
  );
  const handlers: Array<(obj: T | undefined, kind: 'add' | 'update' | 'delete' | 'relist') => void> = [];
  let stopped = false;
  let synced = false;
  let lastActivity = Date.now();
  let backoff = opts.initialBackoffMs ?? 500;
  let timer: NodeJS.Timeout | undefined;
  let resolveSynced!: () => void;
  const syncedPromise = new Promise<void>((r) => (resolveSynced = r));
  const notify = (obj: T | undefined, kind: 'add' | 'update' | 'delete' | 'relist') => {
    lastActivity = Date.now();
    for (const h of handlers) h(obj, kind);
  };
  // a listed object is trimmed already; trimming is idempotent, so it is simply applied to every arrival
  const arrived = (o: T, kind: 'add' | 'update') => {
    trim?.(o);
    notify(o, kind);
  };
  informer.on('add', (o) => arrived(o, 'add'));
  informer.on('update', (o) => arrived(o, 'update'));
  informer.on('delete', (o) => notify(o, 'delete'));
  informer.on('connect', () => {
    lastActivity = Date.now();
    backoff = opts.initialBackoffMs ?? 500;
  });

  // ListWatch.start() resolves even when its LIST failed: it reports that only through 'error'
  let failedSinceStart = false;
  const start = async (): Promise<void> => {
    if (stopped) return;
    failedSinceStart = false;
    try {
      await informer.start();
      if (failedSinceStart) return; // not synced: the 'error' handler has scheduled the restart
      if (!synced) {
        synced = true;
        resolveSynced();
      }
      notify(undefined, 'relist');
    } catch (err) {
      scheduleRestart(err);
    }
  };
  const scheduleRestart = (err: unknown) => {
    if (stopped || timer) return;
    log.warn('watch failed, restarting', { path, error: err, retryInMs: backoff });
    timer = setTimeout(() => {
      timer = undefined;
      void start();
    }, backoff);
    backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 30_000);
  };
  informer.on('error', (err) => {
    failedSinceStart = true;
    if (!stopped) scheduleRestart(err);
  });
  void start();

  return {
    synced: syncedPromise,
    isSynced: () => synced,
    list: () => informer.list(),
    get: (name, namespace) => informer.get(name, namespace),
    onChange: (h) => void handlers.push(h),
    idleMs: () => Date.now() - lastActivity,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
  };
}
