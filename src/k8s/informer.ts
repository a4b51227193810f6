// A client-node informer that keeps itself running. client-node's ListWatch stops for good after any
// error other than 410/timeout (a failed LIST, 403, 404 of a CRD not served yet, connection refused), so
// this wrapper restarts it with capped exponential backoff and reports when the cache first synced.
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type ListPromise } from '@kubernetes/client-node';
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

// eslint-disable-next-line max-lines-per-function -- a factory: the returned cache methods share the ListWatch and its restart state
export function watchCache<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  listFn: ListPromise<T>,
  log: Logger,
  opts: InformerOptions = {},
): WatchedCache<T> {
  const informer = new ListWatch<T>(path, new Watch(kc), listFn, false, opts.labelSelector, opts.fieldSelector);
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
  informer.on('add', (o) => notify(o, 'add'));
  informer.on('update', (o) => notify(o, 'update'));
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
