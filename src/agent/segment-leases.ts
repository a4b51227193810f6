// The peers' heartbeat Leases as one agent sees them: only those in the L2 segments of its own subnets,
// one label-selected watch per segment (src/model/heartbeat.ts, segmentLabel). A local address can only
// go to a node on its subnet, so the election needs no other Lease, and the Lease events an agent
// receives grow with its segments, not with the cluster (issue 11). The node's subnets are known only
// after it read its interfaces and may change, so the watches follow setSegments().
import type { V1Lease } from '@kubernetes/client-node';
import { watchCache, type WatchedCache } from '../k8s/informer.ts';
import type { KubeClient } from '../k8s/rest.ts';
import { dropBookkeeping } from '../k8s/trim.ts';
import type { Logger } from '../log.ts';
import { segmentLabel, segmentSelector } from '../model/heartbeat.ts';

export type LeaseChange = 'add' | 'update' | 'delete' | 'relist';

export interface SegmentLeases {
  /** Watches the segments of exactly these subnets from now on: a watch for each new one, the watches
   * of the others stopped (their Leases leave the view, reported as a relist). Resolves when each of
   * them has been listed once. */
  setSegments(subnets: readonly string[]): Promise<void>;
  /** The Leases of the watched segments, each once (a peer that shares two subnets is in two watches). */
  list(): V1Lease[];
  /** The subnets given whose watch has not listed yet: their peers are not all known. */
  pending(): string[];
  /** Called after a watched Lease changed (a Lease that leaves a segment's selector arrives as a
   * delete of that watch) and after every (re)list or dropped segment. */
  onChange(handler: (obj: V1Lease | undefined, kind: LeaseChange) => void): void;
  stop(): Promise<void>;
}

/** Opens a watch cache of the heartbeat Leases matching a label selector. */
export type OpenLeaseWatch = (labelSelector: string) => WatchedCache<V1Lease>;

/** Watches of the install namespace's Leases (bench/scale.ts runs the same watches at N nodes). */
export function leaseWatches(kc: KubeClient, namespace: string, log: Logger): OpenLeaseWatch {
  return (labelSelector) =>
    watchCache<V1Lease>(kc, `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, log, {
      labelSelector,
      trim: dropBookkeeping,
    });
}

interface SegmentWatch {
  /** The subnet it was asked for. */
  subnet: string;
  cache: WatchedCache<V1Lease>;
  /** Resolves `gone`: the watch is no longer part of the view. */
  drop: () => void;
  gone: Promise<void>;
}

export function segmentLeases(open: OpenLeaseWatch): SegmentLeases {
  /** Per segment label. */
  const watches = new Map<string, SegmentWatch>();
  let stopped = false;
  const handlers: Array<(obj: V1Lease | undefined, kind: LeaseChange) => void> = [];
  const notify = (obj: V1Lease | undefined, kind: LeaseChange) => {
    for (const h of handlers) h(obj, kind);
  };

  return {
    async setSegments(subnets) {
      if (stopped) return; // a reconcile that outlived stop() opens no watch
      const wanted = new Map<string, string>();
      for (const s of subnets) {
        const label = segmentLabel(s);
        if (label) wanted.set(label, s);
      }
      const dropped = [...watches].filter(([label]) => !wanted.has(label));
      for (const [label, w] of dropped) {
        watches.delete(label);
        w.drop();
        void w.cache.stop();
      }
      for (const [label, subnet] of wanted) {
        if (watches.has(label)) continue;
        const cache = open(segmentSelector(subnet));
        let drop!: () => void;
        const gone = new Promise<void>((resolve) => (drop = resolve));
        const entry: SegmentWatch = { subnet, cache, drop, gone };
        watches.set(label, entry);
        // a stopped watch may still deliver what was in flight: no longer part of the view
        cache.onChange((obj, kind) => {
          if (watches.get(label) === entry) notify(obj, kind);
        });
      }
      if (dropped.length) notify(undefined, 'relist');
      // a watch dropped by a later call before it listed no longer holds this one up
      await Promise.all([...watches.values()].map((w) => Promise.race([w.cache.synced, w.gone])));
    },
    list() {
      const byName = new Map<string, V1Lease>();
      for (const { cache } of watches.values())
        for (const lease of cache.list()) {
          const name = lease.metadata?.name ?? '';
          if (!byName.has(name)) byName.set(name, lease);
        }
      return [...byName.values()];
    },
    pending: () => [...watches.values()].filter((w) => !w.cache.isSynced()).map((w) => w.subnet),
    onChange: (h) => void handlers.push(h),
    async stop() {
      stopped = true;
      const all = [...watches.values()];
      watches.clear();
      for (const w of all) w.drop();
      await Promise.all(all.map((w) => w.cache.stop()));
    },
  };
}
