// The allocator controller: watches Services and ServiceGroups through its cluster port (cluster.ts)
// and, while leading, brings every Service to the addresses the pure policy decides (policy.ts).
// A Service is reconciled in named steps: read the newest version, decide which case it is, plan
// with the policy, apply the plan to the in-memory state, write the Service, report events. Caches
// run on standby too, so a takeover only needs one consistent LIST. While leading it also reports the
// Services no node may announce (./no-eligible-report.ts).
import { setTimeout as delay } from 'node:timers/promises';
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import { ANN } from '../api/annotations.ts';
import { canonicalIP, parseIP } from '../api/ip.ts';
import type { ServiceGroup } from '../api/types.ts';
import { formatProblem } from '../api/validation.ts';
import { usesNamespaceSelectors } from '../api/servicegroup-scope.ts';
import { parseServiceGroup } from '../api/validate-servicegroup.ts';
import type { WatchedCache } from '../k8s/informer.ts';
import type { KubeClient } from '../k8s/rest.ts';
import { API_VERSION } from '../api/names.ts';
import { Backoff, type BackoffOptions } from '../k8s/backoff.ts';
import type { EventType } from '../k8s/events.ts';
import type { Logger } from '../log.ts';
import { kubeAllocatorCluster, type AllocatorCluster } from './cluster.ts';
import { groupStatus, poolSummary } from './group-status.ts';
import { resolveGroups, type GroupVerdict, type ServedGroup } from '../model/servicegroups.ts';
import type { AllocatorMetrics } from './metrics.ts';
import { NoEligibleReport } from './no-eligible-report.ts';
import { applyPlan, planAllocation, type Plan, type PlanOk } from './policy.ts';
import { isHandled, isLoadBalancer, readRequest, serviceKey, type AllocationRequest } from './request.ts';
import {
  allocationNotes,
  ingressIPs,
  notLoadBalancerNote,
  RELEASED,
  shownIPs,
  targetOf,
  type ServiceTarget,
} from './service-addresses.ts';
import { ServiceView } from './service-view.ts';
import { AllocationState, type Held } from './state.ts';
import { adoptAddresses } from './takeover.ts';
import { KeyedQueue } from './work-queue.ts';

export interface ControllerOptions {
  /** Install namespace: where ServiceGroups are read from. */
  namespace: string;
  lbClass: string;
  log: Logger;
  metrics: AllocatorMetrics;
  /** Services written at once (default 16). */
  writeConcurrency?: number;
  /** ServiceGroup status writes are coalesced over this many ms (default 250). */
  statusDelayMs?: number;
  /** Delays of the retries of a failed write, per Service or ServiceGroup (default 1 s doubling to 60 s). */
  retry?: BackoffOptions;
  /** The NoEligibleNode report evaluates at most once per this many ms (default 1000). */
  noEligibleIntervalMs?: number;
}

export interface AllocatorOptions extends ControllerOptions {
  kc: KubeClient;
  /** Watch the Services of one namespace only (default: all namespaces). */
  serviceNamespace?: string;
}

/** The allocator on a real apiserver. */
export function createAllocatorController(opts: AllocatorOptions): AllocatorController {
  return new AllocatorController(kubeAllocatorCluster(opts.kc, opts.namespace, opts.log, opts.serviceNamespace), opts);
}

/** What one term of leadership knows; dropped whole when leadership is lost. */
interface Session {
  state: AllocationState;
  served: Map<string, ServedGroup>;
  verdicts: GroupVerdict[];
  groupSignature: string;
  /** Services whose last allocation failed: retried when an address is freed or pools change. */
  failed: Set<string>;
  /** Addresses Services keep although their group's scope was narrowed to exclude them. */
  outOfScope: Map<string, Held[]>;
  statusTimer: NodeJS.Timeout | undefined;
  /** Failures in a row per Service key or `ServiceGroup/<name>`, and the retries they wait for. */
  retries: Backoff;
  retryTimers: Map<string, NodeJS.Timeout>;
}

/** Thrown by a write step when its session is no longer the leading one: the write is dropped. */
class NotLeading extends Error {}

const asService = (svc: V1Service) => ({ ...svc, apiVersion: 'v1', kind: 'Service' });
const asGroup = (sg: KubernetesObject) => ({ ...sg, apiVersion: API_VERSION, kind: 'ServiceGroup' });
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const NAMESPACE_SYNC_WAIT_MS = 10_000;

export class AllocatorController {
  /** Resolves when both caches synced. */
  readonly synced: Promise<void>;
  readonly #cluster: AllocatorCluster;
  readonly #opts: ControllerOptions;
  readonly #log: Logger;
  readonly #view: ServiceView;
  readonly #queue: KeyedQueue;
  readonly #noEligible: NoEligibleReport;
  #session: Session | undefined;
  /** Namespaces' metadata, watched once a ServiceGroup selects namespaces by label (never before: it costs a watch). */
  #namespaces: WatchedCache<KubernetesObject> | undefined;
  // bumped by stopLeading, so a takeover still LISTing when leadership is lost never starts
  #epoch = 0;

  constructor(cluster: AllocatorCluster, opts: ControllerOptions) {
    this.#cluster = cluster;
    this.#opts = opts;
    this.#log = opts.log;
    this.#view = new ServiceView(cluster.services);
    this.#queue = new KeyedQueue(opts.writeConcurrency ?? 16, (key) => this.#work(key));
    cluster.services.onChange((svc, kind) => this.#onServiceEvent(svc, kind));
    cluster.groups.onChange(() => {
      this.#watchNamespacesIfSelected();
      this.#onGroupEvent();
    });
    this.#noEligible = new NoEligibleReport(cluster, {
      log: opts.log,
      ...(opts.noEligibleIntervalMs !== undefined ? { intervalMs: opts.noEligibleIntervalMs } : {}),
    });
    this.synced = Promise.all([cluster.services.synced, cluster.groups.synced]).then(() => undefined);
  }

  isSynced(): boolean {
    return this.#cluster.services.isSynced() && this.#cluster.groups.isSynced();
  }

  isLeading(): boolean {
    return this.#session !== undefined;
  }

  /** Rebuilds usage from every Service's status, then starts allocating. */
  async startLeading(): Promise<void> {
    const mine = ++this.#epoch;
    await this.synced;
    // one consistent read of Services: the previous leader's last writes may not be in our cache yet
    // (groups come from the cache: later group events then never step back to an older spec)
    const listed = await this.#cluster.listServices();
    // namespace labels decide scopes: wait a little for them, but never block leading on them (a missing
    // RBAC rule must not stop allocation; scopes that need the labels are refused until they arrive)
    this.#watchNamespacesIfSelected();
    if (this.#namespaces)
      await Promise.race([this.#namespaces.synced, delay(NAMESPACE_SYNC_WAIT_MS, undefined, { ref: false })]);
    if (mine !== this.#epoch) return; // leadership lost meanwhile (the rest runs without awaiting)
    const s: Session = {
      state: new AllocationState(),
      served: new Map(),
      verdicts: [],
      groupSignature: '',
      failed: new Set(),
      outOfScope: new Map(),
      statusTimer: undefined,
      // jitter: Services that failed together (an apiserver outage) do not all retry at the same moment
      retries: new Backoff({ jitter: 0.2, ...this.#opts.retry }),
      retryTimers: new Map(),
    };
    this.#refreshGroups(s, this.#cluster.groups.list(), true);
    for (const svc of listed) this.#view.listed(svc);
    // ownership first: every address already shown is held before the first new one is handed out
    const adopted = adoptAddresses(s.state, listed, this.#opts.lbClass);
    this.#log.info('leading: usage rebuilt from Service status', { services: listed.length, addresses: adopted });
    this.#session = s;
    this.#opts.metrics.leader.set(1);
    this.#noEligible.start(() => [...s.served.values()].map((g) => g.config));
    this.#enqueueAll();
  }

  /** Stops allocating and writing: writes in flight finish, none starts after this. */
  stopLeading(): void {
    this.#epoch++;
    const s = this.#session;
    if (s?.statusTimer) clearTimeout(s.statusTimer);
    for (const timer of s?.retryTimers.values() ?? []) clearTimeout(timer);
    this.#session = undefined;
    this.#noEligible.stop();
    this.#queue.clear();
    this.#opts.metrics.leader.set(0);
  }

  /** Resolves when no Service is queued or being written (tests, benchmarks). */
  async idle(): Promise<void> {
    await this.#queue.idle();
    await this.#cluster.events.flush();
  }

  async stop(): Promise<void> {
    this.stopLeading();
    await this.idle();
    await this.#cluster.stop();
  }

  // ---- watch events ----

  #onServiceEvent(svc: V1Service | undefined, kind: 'add' | 'update' | 'delete' | 'relist'): void {
    // the echo of our own last write: nothing changed that we did not decide ourselves
    const echo = this.#view.observe(svc, kind);
    if (!this.#session || echo) return;
    if (svc) this.#queue.add(serviceKey(svc));
    else this.#enqueueAll();
  }

  #onGroupEvent(): void {
    const s = this.#session;
    if (!s) return;
    const before = s.groupSignature;
    this.#refreshGroups(s, this.#cluster.groups.list());
    if (s.groupSignature !== before) this.#enqueueAll();
  }

  #watchNamespacesIfSelected(): void {
    if (this.#namespaces) return;
    const selects = this.#cluster.groups.list().some((o) => {
      const tenancy = parseServiceGroup(o).config?.tenancy;
      return !!tenancy && usesNamespaceSelectors(tenancy);
    });
    if (!selects) return;
    this.#log.info('a ServiceGroup selects namespaces by label: watching Namespaces', {});
    this.#namespaces = this.#cluster.namespaces();
    this.#namespaces.onChange((ns, kind) => this.#onNamespaceEvent(ns, kind));
  }

  /** A namespace's labels changed: its Services may have entered or left a group's scope. */
  #onNamespaceEvent(ns: KubernetesObject | undefined, kind: 'add' | 'update' | 'delete' | 'relist'): void {
    if (!this.#session || kind === 'delete') return;
    const name = ns?.metadata?.name;
    for (const svc of this.#cluster.services.list())
      if (!name || svc.metadata?.namespace === name) this.#queue.add(serviceKey(svc));
  }

  /** The labels of a Service's namespace, when Namespaces are watched and it is known. */
  #namespaceLabels(namespace: string): Record<string, string> | undefined {
    const ns = this.#namespaces?.get(namespace);
    return ns && (ns.metadata?.labels ?? {});
  }

  /** Oldest Service first, so after a takeover or pool change earlier Services are served first. */
  #enqueueAll(): void {
    const created = (s: V1Service) => new Date(s.metadata?.creationTimestamp ?? 0).getTime();
    const all = [...this.#cluster.services.list()].sort(
      (a, b) => created(a) - created(b) || serviceKey(a).localeCompare(serviceKey(b)),
    );
    for (const svc of all) this.#queue.add(serviceKey(svc));
  }

  // ---- reconciling one Service ----

  async #work(key: string): Promise<void> {
    const s = this.#session;
    if (!s) return;
    const end = this.#opts.metrics.reconcileSeconds.startTimer();
    try {
      await this.#reconcile(s, key);
      s.retries.reset(key);
    } catch (err) {
      // deleted meanwhile (its delete event releases it), or no longer leading: nothing to retry
      if (err instanceof NotLeading || (err as { code?: number }).code === 404) return s.retries.reset(key);
      const retryInMs = Math.round(s.retries.next(key));
      this.#log.warn('reconcile failed, retrying', { service: key, error: err, retryInMs });
      this.#retryLater(s, key, retryInMs, () => this.#queue.add(key));
    } finally {
      end();
    }
  }

  /** One pending retry per key: a newer failure replaces the older one's timer. */
  #retryLater(s: Session, key: string, ms: number, retry: () => void): void {
    clearTimeout(s.retryTimers.get(key));
    const timer = setTimeout(() => {
      s.retryTimers.delete(key);
      if (this.#session === s) retry();
    }, ms);
    s.retryTimers.set(key, timer.unref());
  }

  /** Read, then decide which case the Service is: gone, not a LoadBalancer, another class's, or ours. */
  async #reconcile(s: Session, key: string): Promise<void> {
    const svc = this.#view.get(key);
    if (!svc) return this.#forget(s, key);
    if (!isLoadBalancer(svc)) return this.#releaseAll(s, key, svc);
    if (!isHandled(svc, this.#opts.lbClass)) return this.#holdForeign(s, key, svc);
    return this.#allocate(s, key, svc);
  }

  #forget(s: Session, key: string): void {
    if (s.state.release(key).length) this.#addressesFreed(s);
    s.failed.delete(key);
    if (s.outOfScope.delete(key)) this.#scheduleGroupStatus(s);
  }

  async #releaseAll(s: Session, key: string, svc: V1Service): Promise<void> {
    const had = s.state.release(key).map((h) => h.text);
    const ours = svc.metadata?.annotations?.[ANN.allocatedFrom] !== undefined;
    s.failed.delete(key);
    if (s.outOfScope.delete(key)) this.#scheduleGroupStatus(s);
    if (!had.length && !ours) return;
    if (had.length) this.#addressesFreed(s);
    // a retry after a failed write no longer holds them: the Service still shows them
    const released = had.length ? had : ingressIPs(svc);
    const obj = asService(svc);
    await this.#write(s, svc, RELEASED, () => {
      this.#cluster.events.reset(obj, ['AddressAssigned']);
      if (released.length) this.#emit(s, obj, 'Normal', 'AddressReleased', notLoadBalancerNote(svc, released));
    });
  }

  /** Another class's address inside our pools is never handed out while it is in use. */
  #holdForeign(s: Session, key: string, svc: V1Service): void {
    s.state.release(key);
    for (const text of ingressIPs(svc)) {
      const ip = parseIP(text);
      const range = ip && s.state.pools.locate(ip);
      if (ip && range)
        s.state.hold({ service: key, ports: [], foreign: true }, { ip, text: canonicalIP(text)!, group: range.group });
    }
  }

  /** Plan with the policy, apply the plan to the state, write what is held, report the change. */
  async #allocate(s: Session, key: string, svc: V1Service): Promise<void> {
    const obj = asService(svc);
    const req = readRequest(svc, this.#namespaceLabels(svc.metadata?.namespace ?? ''));
    const plan = planAllocation(req, s.state);
    for (const w of plan.warnings) this.#emit(s, obj, 'Warning', 'ConfigurationWarning', w);
    if (plan.ok) this.#commit(s, req, plan);
    else this.#refuse(s, key, obj, plan);
    const held = s.state.held(key);
    await this.#write(s, svc, targetOf(svc, held), () => {
      if (!plan.ok) return;
      this.#cluster.events.reset(obj, ['AllocationFailed']);
      const notes = allocationNotes(svc, req, held);
      if (notes.released) {
        this.#cluster.events.reset(obj, ['AddressAssigned']);
        this.#emit(s, obj, 'Normal', 'AddressReleased', notes.released);
      }
      if (notes.assigned) this.#emit(s, obj, 'Normal', 'AddressAssigned', notes.assigned);
    });
  }

  #commit(s: Session, req: AllocationRequest, plan: PlanOk): void {
    s.failed.delete(req.service);
    const before = s.outOfScope.get(req.service)?.map((h) => h.text) ?? [];
    if (plan.outOfScope.length) s.outOfScope.set(req.service, plan.outOfScope);
    else s.outOfScope.delete(req.service);
    if (
      !sameList(
        before,
        plan.outOfScope.map((h) => h.text),
      )
    )
      this.#scheduleGroupStatus(s);
    const freed = applyPlan(req, plan, s.state);
    if (freed.length || plan.add.length) this.#scheduleGroupStatus(s);
    if (freed.length) this.#addressesFreed(s);
  }

  /** A refused plan keeps what the Service holds and says why (one event per distinct reason). */
  #refuse(s: Session, key: string, obj: KubernetesObject, plan: Exclude<Plan, PlanOk>): void {
    s.failed.add(key);
    const held = s.state.held(key).map((h) => h.text);
    const note = `${plan.message}${held.length ? `; keeping ${held.join(', ')}` : ''}`;
    if (this.#emit(s, obj, 'Warning', 'AllocationFailed', note))
      this.#opts.metrics.failures.inc({ reason: plan.reason });
  }

  #addressesFreed(s: Session): void {
    for (const key of s.failed) this.#queue.add(key);
    this.#scheduleGroupStatus(s);
  }

  /**
   * Brings ingress and our annotations to `target` in as few writes as possible: the services/status
   * subresource also accepts metadata, so address and brand change atomically in one merge patch (an
   * apiserver that ignores metadata there gets a second patch on the Service itself). `written` runs
   * once the addresses are written (the events report them). Each patch first checks leadership.
   */
  async #write(s: Session, svc: V1Service, target: ServiceTarget, written: () => void): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const have = svc.metadata?.annotations ?? {};
    const changes = Object.fromEntries(Object.entries(target.annotations).filter(([k, v]) => (have[k] ?? null) !== v));
    const pending = (o: V1Service) =>
      Object.entries(changes).some(([k, v]) => (o.metadata?.annotations?.[k] ?? null) !== v);
    let latest: V1Service | undefined;
    if (!sameList(shownIPs(svc), target.ips)) {
      this.#fence(s);
      latest = await this.#cluster.patchServiceStatus(ns, name, {
        metadata: { annotations: changes },
        status: { loadBalancer: { ingress: target.ips.map((ip) => ({ ip })) } },
      });
      this.#view.wrote(latest);
    }
    if (this.#session === s) written();
    if (!pending(latest ?? svc)) return;
    this.#fence(s);
    this.#view.wrote(await this.#cluster.patchServiceAnnotations(ns, name, changes));
  }

  #fence(s: Session): void {
    if (this.#session !== s) throw new NotLeading();
  }

  /** Events are writes too: a replica that no longer leads sends none. */
  #emit(s: Session, obj: KubernetesObject, type: EventType, reason: string, note: string): boolean {
    return this.#session === s && this.#cluster.events.emit(obj, type, reason, note);
  }

  // ---- ServiceGroups ----

  /** Re-resolves the serving version of every group when a spec changed (status-only updates are ignored). */
  #refreshGroups(s: Session, objs: readonly ServiceGroup[], force = false): void {
    const signature = objs
      .map((o) => `${o.metadata?.name}/${o.metadata?.uid}/${o.metadata?.generation}`)
      .sort()
      .join(',');
    if (!force && signature === s.groupSignature) return;
    s.groupSignature = signature;
    s.verdicts = resolveGroups(objs, s.served);
    s.served = new Map(s.verdicts.filter((v) => v.serving).map((v) => [v.name, v.serving!]));
    s.state.setGroups([...s.served.values()].map((g) => g.config));
    this.#noEligible.changed();
    this.#reportGroups(s, objs);
    this.#log.info('service groups resolved', {
      serving: [...s.served.keys()],
      invalid: s.verdicts.filter((v) => !v.current).map((v) => v.name),
    });
    this.#scheduleGroupStatus(s);
  }

  /** Parsed or ParseFailed on each group (the failure says which version keeps serving). */
  #reportGroups(s: Session, objs: readonly ServiceGroup[]): void {
    const events = this.#cluster.events;
    for (const v of s.verdicts) {
      const found = objs.find((o) => o.metadata?.name === v.name);
      if (!found) continue;
      const obj = asGroup(found);
      if (v.current) {
        events.reset(obj, ['ParseFailed']);
        events.emit(
          obj,
          'Normal',
          'Parsed',
          `serving generation ${v.serving!.generation}: ${poolSummary(v.serving!.config)}`,
        );
      } else {
        const keeps = v.serving ? `generation ${v.serving.generation} keeps serving` : 'nothing is allocated from it';
        events.reset(obj, ['Parsed']);
        events.emit(obj, 'Warning', 'ParseFailed', `${v.problems.map(formatProblem).join('; ')}; ${keeps}`);
      }
    }
  }

  #scheduleGroupStatus(s: Session): void {
    if (s.statusTimer) return;
    s.statusTimer = setTimeout(() => {
      s.statusTimer = undefined;
      if (this.#session === s) void this.#writeGroupStatus(s);
    }, this.#opts.statusDelayMs ?? 250);
  }

  /** Pool metrics for every group, and each group's status where it changed. */
  async #writeGroupStatus(s: Session): Promise<void> {
    const { metrics, namespace } = this.#opts;
    const outside = new Map<string, Array<{ service: string; address: string }>>();
    for (const o of s.state.outsidePools()) {
      outside.set(o.held.group, [...(outside.get(o.held.group) ?? []), { service: o.service, address: o.held.text }]);
    }
    const outOfScope = new Map<string, Array<{ service: string; address: string }>>();
    for (const [service, held] of s.outOfScope)
      for (const h of held) outOfScope.set(h.group, [...(outOfScope.get(h.group) ?? []), { service, address: h.text }]);
    metrics.poolSize.reset();
    metrics.poolInUse.reset();
    for (const v of s.verdicts) {
      const stats = s.state.pools.stats(v.name);
      for (const f of [4, 6] as const) {
        if (stats[f].size === 0n) continue;
        metrics.poolSize.set({ group: v.name, family: `IPv${f}` }, Number(stats[f].size));
        metrics.poolInUse.set({ group: v.name, family: `IPv${f}` }, Number(stats[f].size - stats[f].free));
      }
      const obj = this.#cluster.groups.get(v.name, namespace);
      if (!obj || this.#session !== s) continue;
      const generation = obj.metadata?.generation ?? 0;
      const holders = { outside: outside.get(v.name) ?? [], outOfScope: outOfScope.get(v.name) ?? [] };
      const desired = groupStatus(v, stats, holders, generation, obj.status?.conditions);
      if (JSON.stringify(desired) === JSON.stringify(obj.status ?? {})) continue;
      const key = `ServiceGroup/${v.name}`;
      try {
        await this.#cluster.patchGroupStatus(v.name, desired);
        s.retries.reset(key);
      } catch (err) {
        const retryInMs = Math.round(s.retries.next(key));
        const serviceGroup = `${namespace}/${v.name}`;
        this.#log.warn('could not write ServiceGroup status, retrying', {
          serviceGroup,
          error: err,
          retryInMs,
        });
        this.#retryLater(s, key, retryInMs, () => this.#scheduleGroupStatus(s));
      }
    }
  }
}
