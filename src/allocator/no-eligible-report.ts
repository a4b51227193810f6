// The NoEligibleNode report, written by the leading allocator: one Warning event on each Service with an
// address no node may announce (the note: src/model/no-eligible.ts), when that starts or its reasons
// change. The allocator reports it because it is one process that may watch every node's heartbeat Lease
// (at 1,000 nodes renewing every 10 s that is ~100 watch events/s for one watcher, as Kubernetes' node
// lifecycle controller watches every node Lease), while every agent watching every Lease would cost
// nodes squared. A renewal alone changes no note, so only what the note reads of a Lease (subnets,
// labels, out of service, routing rejected), a live Lease's expiry (not an API event: a timer), a
// Service, an EndpointSlice of an ETP Local Service or a ServiceGroup leads to an evaluation, at most
// one per interval.
import type { KubernetesObject, V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import { formatIP } from '../api/ip.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import type { EventRecorder } from '../k8s/events.ts';
import type { WatchedCache } from '../k8s/informer.ts';
import type { Logger } from '../log.ts';
import { formatLabels, isLive, parseHeartbeat, type Heartbeat } from '../model/heartbeat.ts';
import { NO_ELIGIBLE_NODE, servicesWithoutEligibleNode } from '../model/no-eligible.ts';
import { nodesWithEndpoints, SERVICE_NAME_LABEL, serviceInput, type ServiceInput } from '../model/services.ts';

export interface NoEligibleReportPorts {
  services: WatchedCache<V1Service>;
  leases: WatchedCache<V1Lease>;
  endpointSlices: WatchedCache<V1EndpointSlice>;
  events: EventRecorder;
}

export interface NoEligibleReportOptions {
  log: Logger;
  /** At most one evaluation per this many ms (default 1000): a burst of changes costs one. */
  intervalMs?: number;
  /** New events written per evaluation at most (default 50); the rest follow in the next ones. */
  maxEventsPerEvaluation?: number;
}

/** What the note reads of one heartbeat, without its renewal: equal strings give equal notes. */
export const heartbeatSignature = (h: Heartbeat): string =>
  [
    h.node,
    h.subnets.map((s) => `${formatIP(s.ip)}/${s.prefix}`).join(','),
    formatLabels(h.labels),
    h.outOfService ?? '',
    h.routingRejected ?? '',
  ].join(' ');

/** One heartbeat Lease as the triggers know it. */
interface Beat {
  signature: string;
  expiresAt: number;
  /** Live when last looked at: its expiry is still to come and changes the notes. */
  live: boolean;
}

const beatOf = (h: Heartbeat, now: number): Beat => ({
  signature: heartbeatSignature(h),
  expiresAt: h.expiresAt,
  live: isLive(h, now),
});

const serviceRef = (svc: V1Service): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: svc.metadata,
});

export class NoEligibleReport {
  readonly #p: NoEligibleReportPorts;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #maxEvents: number;
  /** The serving ServiceGroups while this replica leads; undefined on standby (nothing is reported). */
  #groups: (() => readonly ServiceGroupConfig[]) | undefined;
  /** Per heartbeat Lease name (kept on standby too, so a takeover starts with it). */
  #beats = new Map<string, Beat>();
  /** Services with a NoEligibleNode event in this term; the recorder holds the note (a repeat is not sent). */
  readonly #reported = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #lastRun = -Infinity;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = Infinity;

  constructor(ports: NoEligibleReportPorts, opts: NoEligibleReportOptions) {
    this.#p = ports;
    this.#log = opts.log;
    this.#intervalMs = opts.intervalMs ?? 1000;
    this.#maxEvents = opts.maxEventsPerEvaluation ?? 50;
    ports.leases.onChange((lease, kind) => this.#onLease(lease, kind));
    ports.services.onChange(() => this.changed());
    ports.endpointSlices.onChange((slice) => {
      // endpoints matter only to an ETP Local Service of ours (a relist: to any)
      const name = slice?.metadata?.labels?.[SERVICE_NAME_LABEL];
      const svc = name === undefined ? undefined : ports.services.get(name, slice?.metadata?.namespace);
      if (!slice || (svc && serviceInput(svc)?.etpLocal)) this.changed();
    });
  }

  /** Leading: reports from now on, reading the serving ServiceGroups from `groups`. */
  start(groups: () => readonly ServiceGroupConfig[]): void {
    this.#groups = groups;
    this.changed();
    this.#checkExpiry();
  }

  /** No longer leading: nothing more is written, and the next term reports the state afresh. */
  stop(): void {
    this.#groups = undefined;
    clearTimeout(this.#timer);
    clearTimeout(this.#expiryTimer);
    this.#timer = undefined;
    this.#expiryTimer = undefined;
    this.#expiryAt = Infinity;
    for (const key of this.#reported) this.#p.events.reset(this.#ref(key), [NO_ELIGIBLE_NODE]);
    this.#reported.clear();
  }

  /** Something the notes read changed: evaluate now, or once the interval since the last one is over. */
  changed(): void {
    if (!this.#groups || this.#timer) return;
    const wait = Math.max(0, this.#lastRun + this.#intervalMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#evaluate();
    }, wait).unref();
  }

  #onLease(lease: V1Lease | undefined, kind: 'add' | 'update' | 'delete' | 'relist'): void {
    const now = Date.now();
    if (!lease) {
      this.#beats = new Map(
        this.#p.leases.list().flatMap((l) => {
          const h = parseHeartbeat(l);
          return h ? [[l.metadata?.name ?? '', beatOf(h, now)] as const] : [];
        }),
      );
      this.changed();
      return this.#checkExpiry();
    }
    const name = lease.metadata?.name ?? '';
    const h = kind === 'delete' ? undefined : parseHeartbeat(lease);
    const before = this.#beats.get(name);
    if (!h) {
      if (this.#beats.delete(name)) this.changed();
      return;
    }
    const beat = beatOf(h, now);
    this.#beats.set(name, beat);
    if (before?.signature !== beat.signature || before.live !== beat.live) this.changed();
    // a renewal moves an expiry later (the timer then finds nothing due and re-arms); a new or shortened Lease earlier
    if (this.#groups && beat.live && beat.expiresAt < this.#expiryAt) this.#checkExpiry();
  }

  /** Live heartbeats that expired since they were last looked at change the notes; re-arms for the next. */
  #checkExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#expiryAt = Infinity;
    if (!this.#groups) return;
    const now = Date.now();
    let expired = false;
    for (const b of this.#beats.values()) {
      if (!b.live) continue;
      if (b.expiresAt <= now) {
        b.live = false;
        expired = true;
      } else this.#expiryAt = Math.min(this.#expiryAt, b.expiresAt);
    }
    if (expired) this.changed();
    if (this.#expiryAt < Infinity)
      this.#expiryTimer = setTimeout(() => this.#checkExpiry(), this.#expiryAt - now + 5).unref();
  }

  #evaluate(): void {
    this.#lastRun = Date.now();
    const groups = this.#groups;
    const { services, leases, endpointSlices, events } = this.#p;
    // a partial view would warn falsely; the relist that completes a sync calls changed() again
    if (!groups || !leases.isSynced() || !endpointSlices.isSynced()) return;
    const now = Date.now();
    const notes = servicesWithoutEligibleNode({
      services: services
        .list()
        .map(serviceInput)
        .filter((s): s is ServiceInput => !!s),
      heartbeats: leases
        .list()
        .map(parseHeartbeat)
        .filter((h): h is Heartbeat => !!h),
      groups: groups(),
      endpoints: nodesWithEndpoints(endpointSlices.list()),
      now,
    });
    for (const key of this.#reported) {
      if (notes.has(key)) continue;
      this.#reported.delete(key);
      events.reset(this.#ref(key), [NO_ELIGIBLE_NODE]); // the same note later is a new transition
      this.#log.info('every address of the Service has an eligible node again, or the Service is gone', {
        service: key,
      });
    }
    let sent = 0;
    for (const [key, note] of notes) {
      if (sent >= this.#maxEvents) {
        // a burst (every node cordoned, 10,000 Services) is written a few dozen events at a time
        this.changed();
        break;
      }
      const [ns, name] = key.split('/');
      const svc = services.get(name!, ns);
      if (!svc) continue;
      this.#reported.add(key);
      if (!events.emit(serviceRef(svc), 'Warning', NO_ELIGIBLE_NODE, note)) continue; // sent before, unchanged
      sent++;
      this.#log.warn('no node may announce an address of the Service', { service: key, reason: note });
    }
  }

  /** A Service reference by key, for the recorder's memory of what was sent (kind, namespace and name). */
  #ref(key: string): KubernetesObject {
    const [namespace, name] = key.split('/');
    return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name } };
  }
}
