// The allocator's Kubernetes side: watches Services and ServiceGroups, and while leading reconciles
// every Service to its desired addresses (policy.ts) with merge patches, writes ServiceGroup status,
// events and metrics. Caches run on standby too, so a takeover only needs one consistent LIST.
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  type V1Service,
} from '@kubernetes/client-node';
import { ANN, BRAND } from '../api/annotations.ts';
import { canonicalIP, parseIP, type Family } from '../api/ip.ts';
import type { ServiceGroup } from '../api/types.ts';
import { formatProblem } from '../api/validation.ts';
import { GROUP, VERSION } from '../api/crds.ts';
import { createEventRecorder, type EventRecorder, type EventType } from '../k8s/events.ts';
import { watchCache, type WatchedCache } from '../k8s/informer.ts';
import { mergePatch, patchServiceAnnotations } from '../k8s/patch.ts';
import type { Logger } from '../log.ts';
import { groupStatus, poolSummary } from './group-status.ts';
import { resolveGroups, type GroupVerdict, type ServedGroup } from '../model/servicegroups.ts';
import type { AllocatorMetrics } from './metrics.ts';
import { applyPlan, holderOf, planAllocation } from './policy.ts';
import { isHandled, isLoadBalancer, readRequest, serviceKey } from './request.ts';
import { AllocationState, type Held } from './state.ts';
import { KeyedQueue } from './work-queue.ts';

export const COMPONENT = 'purelb-allocator';

export interface AllocatorOptions {
  kc: KubeConfig;
  /** Install namespace: where ServiceGroups are read from. */
  namespace: string;
  lbClass: string;
  log: Logger;
  metrics: AllocatorMetrics;
  /** Watch the Services of one namespace only (default: all namespaces). */
  serviceNamespace?: string;
  /** Services written at once (default 16). */
  writeConcurrency?: number;
  /** ServiceGroup status writes are coalesced over this many ms (default 250). */
  statusDelayMs?: number;
}

export interface AllocatorController {
  /** Resolves when both caches synced. */
  synced: Promise<void>;
  isSynced(): boolean;
  /** Rebuilds usage from every Service's status, then starts allocating. */
  startLeading(): Promise<void>;
  /** Stops allocating and writing (in-flight writes finish). */
  stopLeading(): void;
  isLeading(): boolean;
  /** Resolves when no Service is queued or being written (tests, benchmarks). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const SG_PLURAL = 'servicegroups';

const ingressIPs = (svc: V1Service) =>
  (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip);

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** resourceVersions are etcd revisions: compare numerically when both are integers. */
const rvOf = (o: KubernetesObject | undefined) => {
  const rv = o?.metadata?.resourceVersion;
  return rv && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
};

const asService = (svc: V1Service) => ({ ...svc, apiVersion: 'v1', kind: 'Service' });
const asGroup = (sg: KubernetesObject) => ({ ...sg, apiVersion: `${GROUP}/${VERSION}`, kind: 'ServiceGroup' });

interface Session {
  state: AllocationState;
  served: Map<string, ServedGroup>;
  verdicts: GroupVerdict[];
  groupSignature: string;
  /** Services whose last allocation failed: retried when an address is freed or pools change. */
  failed: Set<string>;
  statusTimer: NodeJS.Timeout | undefined;
}

export function createAllocatorController(opts: AllocatorOptions): AllocatorController {
  const { kc, namespace, lbClass, metrics } = opts;
  const log = opts.log;
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const events: EventRecorder = createEventRecorder(kc, COMPONENT, log);
  const svcPath = opts.serviceNamespace ? `/api/v1/namespaces/${opts.serviceNamespace}/services` : '/api/v1/services';
  const listServices = () =>
    opts.serviceNamespace
      ? core.listNamespacedService({ namespace: opts.serviceNamespace })
      : core.listServiceForAllNamespaces();
  const listGroups = () =>
    custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: SG_PLURAL }) as Promise<{
      items: ServiceGroup[];
      metadata?: { resourceVersion?: string };
    }>;
  const services: WatchedCache<V1Service> = watchCache<V1Service>(kc, svcPath, listServices, log);
  const groups: WatchedCache<ServiceGroup> = watchCache<ServiceGroup>(
    kc,
    `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${SG_PLURAL}`,
    listGroups as never,
    log,
  );
  // newest Service objects we know of from our own writes (and the takeover LIST), until the cache catches up
  const fresher = new Map<string, V1Service>();
  let session: Session | undefined;
  // bumped by stopLeading, so a takeover still LISTing when leadership is lost never starts
  let epoch = 0;

  const observed = (key: string): V1Service | undefined => {
    const [ns, name] = key.split('/') as [string, string];
    const cached = services.get(name, ns);
    const mine = fresher.get(key);
    if (!mine) return cached;
    const a = rvOf(cached);
    const b = rvOf(mine);
    if (cached && (a === undefined || b === undefined || a >= b)) {
      fresher.delete(key);
      return cached;
    }
    return mine;
  };

  const emit = (obj: KubernetesObject, type: EventType, reason: string, note: string) =>
    events.emit(obj, type, reason, note);

  const queue = new KeyedQueue(opts.writeConcurrency ?? 16, async (key) => {
    const end = metrics.reconcileSeconds.startTimer();
    try {
      await reconcile(key);
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) return; // deleted meanwhile: its delete event releases it
      log.warn('reconcile failed, retrying', { service: key, error: String((err as Error)?.message ?? err) });
      setTimeout(() => session && queue.add(key), 1000).unref();
    } finally {
      end();
    }
  });

  /**
   * Brings ingress and our annotations to the desired values in as few writes as possible: the
   * services/status subresource also accepts metadata, so address and brand change atomically in one
   * merge patch (an apiserver that ignores metadata there gets a second patch on the Service itself).
   */
  async function write(svc: V1Service, ips: string[], annotations: Record<string, string | null>): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const current = ingressIPs(svc).map((ip) => canonicalIP(ip) ?? ip);
    const have = svc.metadata?.annotations ?? {};
    const changes = Object.fromEntries(Object.entries(annotations).filter(([k, v]) => (have[k] ?? null) !== v));
    const pending = (o: V1Service) =>
      Object.entries(changes).some(([k, v]) => (o.metadata?.annotations?.[k] ?? null) !== v);
    let latest: V1Service | undefined;
    if (!sameList(current, ips)) {
      latest = await core.patchNamespacedServiceStatus(
        {
          name,
          namespace: ns,
          body: {
            metadata: { annotations: changes },
            status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
          },
        },
        mergePatch,
      );
    }
    if (pending(latest ?? svc)) latest = await patchServiceAnnotations(core, ns, name, changes);
    if (latest) fresher.set(serviceKey(svc), latest);
  }

  const familyOrder = (svc: V1Service) => (f: Family) => {
    const i = (svc.spec?.ipFamilies ?? []).indexOf(`IPv${f}`);
    return i < 0 ? f : i;
  };
  const desiredIPs = (svc: V1Service, held: readonly Held[]) => {
    const order = familyOrder(svc);
    return [...held].sort((a, b) => order(a.ip.family) - order(b.ip.family)).map((h) => h.text);
  };
  const fromAnnotation = (held: readonly Held[]) => [...new Set(held.map((h) => h.group))].join(', ');

  function addressesFreed(s: Session): void {
    for (const key of s.failed) queue.add(key);
    scheduleGroupStatus(s);
  }

  async function reconcile(key: string): Promise<void> {
    const s = session;
    if (!s) return;
    const svc = observed(key);
    if (!svc) {
      if (s.state.release(key).length) addressesFreed(s);
      s.failed.delete(key);
      return;
    }
    const obj = asService(svc);
    if (!isLoadBalancer(svc)) {
      const had = s.state.release(key).map((h) => h.text);
      const ours = svc.metadata?.annotations?.[ANN.allocatedFrom] !== undefined;
      s.failed.delete(key);
      if (!had.length && !ours) return;
      if (had.length) addressesFreed(s);
      const released = had.length ? had : ingressIPs(svc);
      await write(svc, [], { [ANN.allocatedFrom]: null });
      events.reset(obj, ['AddressAssigned']);
      if (released.length)
        emit(
          obj,
          'Normal',
          'AddressReleased',
          `Released ${released.join(', ')}: the Service is type ${svc.spec?.type}, not LoadBalancer`,
        );
      return;
    }
    if (!isHandled(svc, lbClass)) {
      // another class's address inside our pools is never handed out while it is in use
      s.state.release(key);
      for (const text of ingressIPs(svc)) {
        const ip = parseIP(text);
        const range = ip && s.state.pools.locate(ip);
        if (range)
          s.state.hold(
            { service: key, ports: [], foreign: true },
            { ip: ip!, text: canonicalIP(text)!, group: range.group },
          );
      }
      return;
    }
    const req = readRequest(svc);
    const plan = planAllocation(req, s.state);
    for (const w of plan.warnings) emit(obj, 'Warning', 'ConfigurationWarning', w);
    if (!plan.ok) {
      s.failed.add(key);
      const held = s.state.held(key).map((h) => h.text);
      const note = `${plan.message}${held.length ? `; keeping ${held.join(', ')}` : ''}`;
      if (emit(obj, 'Warning', 'AllocationFailed', note)) metrics.failures.inc({ reason: plan.reason });
    } else {
      s.failed.delete(key);
      const freed = applyPlan(req, plan, s.state);
      if (freed.length || plan.add.length) scheduleGroupStatus(s);
      if (freed.length) addressesFreed(s);
    }
    const held = s.state.held(key);
    const annotations: Record<string, string | null> = held.length
      ? { [ANN.allocatedBy]: BRAND, [ANN.allocatedFrom]: fromAnnotation(held) }
      : { [ANN.allocatedFrom]: null };
    await write(svc, desiredIPs(svc, held), annotations);
    if (!plan.ok) return;
    events.reset(obj, ['AllocationFailed']);
    if (plan.release.length) {
      events.reset(obj, ['AddressAssigned']);
      emit(
        obj,
        'Normal',
        'AddressReleased',
        `Released ${plan.release.map((h) => h.text).join(', ')}: the Service now asks for ${req.pinned.length ? `${req.pinnedBy} ${req.pinned.length} address(es)` : `ServiceGroup ${req.group}`}`,
      );
    }
    if (plan.add.length) {
      const kept = plan.keep.length ? ` (keeps ${plan.keep.map((h) => h.text).join(', ')})` : '';
      emit(
        obj,
        'Normal',
        'AddressAssigned',
        `Assigned ${desiredIPs(svc, plan.add).join(', ')} from ServiceGroup ${fromAnnotation(plan.add)}${kept}`,
      );
    }
  }

  /** Re-resolves the serving version of every group when a spec changed (status-only updates are ignored). */
  function refreshGroups(s: Session, objs: readonly ServiceGroup[], force = false): void {
    const signature = objs
      .map((o) => `${o.metadata?.name}/${o.metadata?.uid}/${o.metadata?.generation}`)
      .sort()
      .join(',');
    if (!force && signature === s.groupSignature) return;
    s.groupSignature = signature;
    s.verdicts = resolveGroups(objs, s.served);
    s.served = new Map(s.verdicts.filter((v) => v.serving).map((v) => [v.name, v.serving!]));
    s.state.setGroups([...s.served.values()].map((g) => g.config));
    for (const v of s.verdicts) {
      const obj = objs.find((o) => o.metadata?.name === v.name);
      if (!obj) continue;
      if (v.current) {
        events.reset(asGroup(obj), ['ParseFailed']);
        emit(
          asGroup(obj),
          'Normal',
          'Parsed',
          `serving generation ${v.serving!.generation}: ${poolSummary(v.serving!.config)}`,
        );
      } else {
        events.reset(asGroup(obj), ['Parsed']);
        emit(
          asGroup(obj),
          'Warning',
          'ParseFailed',
          `${v.problems.map(formatProblem).join('; ')}; ${v.serving ? `generation ${v.serving.generation} keeps serving` : 'nothing is allocated from it'}`,
        );
      }
    }
    log.info('service groups resolved', {
      serving: [...s.served.keys()],
      invalid: s.verdicts.filter((v) => !v.current).map((v) => v.name),
    });
    scheduleGroupStatus(s);
  }

  function scheduleGroupStatus(s: Session): void {
    if (s.statusTimer) return;
    s.statusTimer = setTimeout(() => {
      s.statusTimer = undefined;
      if (session === s) void writeGroupStatus(s);
    }, opts.statusDelayMs ?? 250);
  }

  async function writeGroupStatus(s: Session): Promise<void> {
    const outside = new Map<string, Array<{ service: string; address: string }>>();
    for (const o of s.state.outsidePools()) {
      outside.set(o.held.group, [...(outside.get(o.held.group) ?? []), { service: o.service, address: o.held.text }]);
    }
    metrics.poolSize.reset();
    metrics.poolInUse.reset();
    for (const v of s.verdicts) {
      const stats = s.state.pools.stats(v.name);
      for (const f of [4, 6] as const) {
        if (stats[f].size === 0n) continue;
        metrics.poolSize.set({ group: v.name, family: `IPv${f}` }, Number(stats[f].size));
        metrics.poolInUse.set({ group: v.name, family: `IPv${f}` }, Number(stats[f].size - stats[f].free));
      }
      const obj = groups.get(v.name, namespace);
      if (!obj) continue;
      const generation = obj.metadata?.generation ?? 0;
      const desired = groupStatus(v, stats, outside.get(v.name) ?? [], generation, obj.status?.conditions);
      if (JSON.stringify(desired) === JSON.stringify(obj.status ?? {})) continue;
      try {
        await custom.patchNamespacedCustomObjectStatus(
          {
            group: GROUP,
            version: VERSION,
            namespace,
            plural: SG_PLURAL,
            name: v.name,
            body: { status: desired },
          },
          mergePatch,
        );
      } catch (err) {
        log.warn('could not write ServiceGroup status', {
          serviceGroup: `${namespace}/${v.name}`,
          error: String((err as Error)?.message ?? err),
        });
      }
    }
  }

  function enqueueAll(): void {
    const created = (s: V1Service) => new Date(s.metadata?.creationTimestamp ?? 0).getTime();
    for (const svc of [...services.list()].sort(
      (a, b) => created(a) - created(b) || serviceKey(a).localeCompare(serviceKey(b)),
    )) {
      queue.add(serviceKey(svc));
    }
  }

  services.onChange((svc, kind) => {
    if (kind === 'relist') fresher.clear();
    if (svc && kind === 'delete') fresher.delete(serviceKey(svc));
    // the echo of our own last write: nothing changed that we did not decide ourselves
    const echo =
      svc &&
      kind === 'update' &&
      fresher.get(serviceKey(svc))?.metadata?.resourceVersion === svc.metadata?.resourceVersion;
    if (echo) fresher.delete(serviceKey(svc));
    if (!session || echo) return;
    if (svc) queue.add(serviceKey(svc));
    else enqueueAll();
  });
  groups.onChange(() => {
    const s = session;
    if (!s) return;
    const before = s.groupSignature;
    refreshGroups(s, groups.list());
    if (s.groupSignature !== before) enqueueAll();
  });

  const synced = Promise.all([services.synced, groups.synced]).then(() => undefined);

  return {
    synced,
    isSynced: () => services.isSynced() && groups.isSynced(),
    isLeading: () => session !== undefined,
    async startLeading() {
      const mine = ++epoch;
      await synced;
      // one consistent read of Services: the previous leader's last writes may not be in our cache yet
      // (groups come from the cache: later group events then never step back to an older spec)
      const svcList = await listServices();
      if (mine !== epoch) return; // leadership lost meanwhile (the rest runs without awaiting)
      const s: Session = {
        state: new AllocationState(),
        served: new Map(),
        verdicts: [],
        groupSignature: '',
        failed: new Set(),
        statusTimer: undefined,
      };
      refreshGroups(s, groups.list(), true);
      let adopted = 0;
      for (const svc of svcList.items) {
        const key = serviceKey(svc);
        const cached = services.get(svc.metadata!.name!, svc.metadata!.namespace);
        if (!cached || (rvOf(cached) ?? 0n) < (rvOf(svc) ?? 0n)) fresher.set(key, svc);
        if (!isLoadBalancer(svc)) continue;
        const req = isHandled(svc, lbClass) ? readRequest(svc) : undefined;
        const named = (svc.metadata?.annotations?.[ANN.allocatedFrom] ?? '')
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean);
        for (const text of ingressIPs(svc)) {
          const ip = parseIP(text);
          if (!ip) continue;
          const inGroup = s.state.pools.locate(ip)?.group;
          if (!req && !inGroup) continue; // another class's address outside our pools is none of our business
          // the group it came from: where it lies now if the annotation agrees, else what the annotation says
          const group =
            inGroup && (named.length === 0 || named.includes(inGroup))
              ? inGroup
              : (named[0] ?? inGroup ?? req?.group ?? '');
          const holder = req ? holderOf(req) : { service: key, ports: [], foreign: true };
          s.state.hold(holder, { ip, text: canonicalIP(text)!, group });
          adopted++;
        }
      }
      log.info('leading: usage rebuilt from Service status', { services: svcList.items.length, addresses: adopted });
      session = s;
      metrics.leader.set(1);
      enqueueAll();
    },
    stopLeading() {
      epoch++;
      if (session?.statusTimer) clearTimeout(session.statusTimer);
      session = undefined;
      queue.clear();
      metrics.leader.set(0);
    },
    idle: async () => {
      await queue.idle();
      await events.flush();
    },
    async stop() {
      this.stopLeading();
      await queue.idle();
      await events.flush();
      await Promise.all([services.stop(), groups.stop()]);
    },
  };
}
