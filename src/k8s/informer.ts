// A watch cache (an informer) that keeps itself running: it LISTs a path, then WATCHes it from the
// list's resourceVersion with bookmarks; a watch that ends (the apiserver's timeout, an idle stream) is
// reopened from the last version seen, a 410 Gone (version too old) lists again at once, and any other
// failure (a failed LIST, 403, 404 of a CRD not served yet, connection refused) is retried with capped
// exponential backoff. It reports when the cache first synced.
// It also bounds what the cache costs in memory: the LIST comes in pages, and an optional `trim` drops
// what the caller never reads from every object as it arrives (list pages and watch events alike).
import type { KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { ApiError, type KubeClient, type ObjectList, type WatchEvent } from './rest.ts';

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
  /** Applied to the LIST and the WATCH alike. */
  labelSelector?: string;
  fieldSelector?: string;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface CacheOptions<T> extends InformerOptions {
  /** Changes an object in place to what the caller reads: the cache then holds only that. */
  trim?: (obj: T) => void;
  /** Asks for PartialObjectMetadata (name, labels, annotations...) instead of whole objects. */
  metadataOnly?: boolean;
  /** Replaces the LIST of the path (e.g. one that answers "empty" for a CRD that is not installed). */
  list?: PagedList<T>;
}

/** Pagination of a LIST; a list function may ignore it (small lists) or pass it on to the API call. */
export interface ListPage {
  limit: number;
  continue?: string;
}

export type PagedList<T> = (page: ListPage) => Promise<ObjectList<T>>;

/** Objects per LIST page: a LIST of 10,000 Services never has them all untrimmed in memory at once. */
export const LIST_PAGE_SIZE = 500;

// a LIST answers with the List form, a WATCH streams events of the single form
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** The apiserver ends a watch after this many seconds (plus up to as much again at random, as client-go
 * does, so the watches of many agents do not reopen together). */
const WATCH_TIMEOUT_S = 300;
/** A watch stream with no byte for this long is taken for dead and reopened (from the last version, no
 * LIST): to a watch that asked for them, kube-apiserver 1.36 sent bookmarks 119 s apart and 2 s before
 * its timeout (measured on a quiet ConfigMap watch), so a live quiet watch is reopened at most this often. */
const WATCH_IDLE_MS = 150_000;

/** The whole list, fetched page by page and each page trimmed before the next; the resourceVersion is
 * the first page's (all pages of a paginated LIST are one consistent snapshot). */
export async function listAll<T>(listFn: PagedList<T>, trim?: (obj: T) => void): Promise<ObjectList<T>> {
  const items: T[] = [];
  let first: ObjectList<T> | undefined;
  let page: ListPage = { limit: LIST_PAGE_SIZE };
  for (;;) {
    const got = await listFn(page);
    first ??= got;
    for (const o of got.items) {
      trim?.(o);
      items.push(o);
    }
    const next = got.metadata?.continue;
    if (!next) break;
    page = { limit: LIST_PAGE_SIZE, continue: next };
  }
  return { metadata: { resourceVersion: first.metadata?.resourceVersion }, items };
}

/** A LIST of the path with the cache's selectors, one page at a time. */
export function pagedList<T>(kc: KubeClient, path: string, opts: CacheOptions<T> = {}): PagedList<T> {
  return (page) =>
    kc.list<T>(path, {
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, ...page },
      ...(opts.metadataOnly ? { accept: METADATA_LIST } : {}),
    });
}

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

type Kind = 'add' | 'update' | 'delete' | 'relist';

// eslint-disable-next-line max-lines-per-function -- a factory: the returned cache methods share the objects and the list-watch loop's state
export function watchCache<T extends KubernetesObject>(
  kc: KubeClient,
  path: string,
  log: Logger,
  opts: CacheOptions<T> = {},
): WatchedCache<T> {
  const { trim } = opts;
  const listFn = opts.list ?? pagedList<T>(kc, path, opts);
  const initialBackoff = opts.initialBackoffMs ?? 500;
  const objects = new Map<string, T>();
  const handlers: Array<(obj: T | undefined, kind: Kind) => void> = [];
  const abort = new AbortController();
  let synced = false;
  let lastActivity = Date.now();
  let backoff = initialBackoff;
  let resolveSynced!: () => void;
  const syncedPromise = new Promise<void>((r) => (resolveSynced = r));
  const notify = (obj: T | undefined, kind: Kind) => {
    lastActivity = Date.now();
    for (const h of handlers) h(obj, kind);
  };
  /** Stores an arrival; an object whose version the cache holds already changes nothing. */
  const put = (o: T) => {
    const key = keyOf(o);
    const had = objects.get(key);
    const version = o.metadata?.resourceVersion;
    if (had && version !== undefined && had.metadata?.resourceVersion === version) return;
    objects.set(key, o);
    notify(o, had ? 'update' : 'add');
  };
  const relisted = (items: T[]) => {
    const keys = new Set(items.map(keyOf));
    for (const [key, old] of objects)
      if (!keys.has(key)) {
        objects.delete(key);
        notify(old, 'delete');
      }
    for (const o of items) put(o);
    if (!synced) {
      synced = true;
      resolveSynced();
    }
    notify(undefined, 'relist');
  };

  /** One watch from `version`; resolves with the last version seen when the stream ends. */
  const watchFrom = async (version: string): Promise<string> => {
    let last = version;
    await kc.watch<T>(
      path,
      {
        resourceVersion: version,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.round(WATCH_TIMEOUT_S * (1 + Math.random())),
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
      },
      (event: WatchEvent<T>) => {
        if (event.type === 'ERROR') {
          const status = event.object as { code?: number; message?: string };
          throw new ApiError(status.code ?? 0, `WATCH ${path}: ${status.message ?? 'error event'}`, status);
        }
        const o = event.object;
        last = o.metadata?.resourceVersion || last;
        lastActivity = Date.now();
        if (event.type === 'BOOKMARK') return;
        trim?.(o);
        if (event.type === 'DELETED') {
          if (objects.delete(keyOf(o))) notify(o, 'delete');
        } else put(o);
      },
      {
        signal: abort.signal,
        idleMs: WATCH_IDLE_MS,
        ...(opts.metadataOnly ? { accept: METADATA_OBJECT } : {}),
        onOpen: () => {
          lastActivity = Date.now();
          backoff = initialBackoff;
        },
      },
    );
    return last;
  };

  const run = async () => {
    let version = '';
    while (!abort.signal.aborted) {
      try {
        if (!version) {
          const listed = await listAll(listFn, trim);
          if (abort.signal.aborted) return;
          relisted(listed.items);
          version = listed.metadata?.resourceVersion ?? '';
        }
        version = await watchFrom(version);
      } catch (err) {
        if (abort.signal.aborted) return;
        if ((err as { code?: number }).code === 410) {
          version = ''; // too old for a watch: a new LIST, at once
          continue;
        }
        log.warn('watch failed, restarting', { path, error: err, retryInMs: backoff });
        await sleep(backoff, undefined, { signal: abort.signal }).catch(() => undefined); // stop() ends the wait
        backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 30_000);
      }
    }
  };
  const running = run();

  return {
    synced: syncedPromise,
    isSynced: () => synced,
    list: () => [...objects.values()],
    get: (name, namespace) => objects.get(`${namespace ?? ''}/${name}`),
    onChange: (h) => void handlers.push(h),
    idleMs: () => Date.now() - lastActivity,
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}
