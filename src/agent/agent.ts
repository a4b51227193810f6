// The node agent's controller: watches Services, EndpointSlices, ServiceGroups, the LBNodeAgent, the
// heartbeat Leases and its own Node; every change enqueues one coalesced reconcile that reads the kernel,
// decides every address (src/agent/desired.ts), applies the difference in one `ip -batch`, announces
// taken-over local addresses, records itself in the Service annotation and writes events only on change.
// A cordoned Node (or one with the exclude-from-external-load-balancers label) is out of service: no
// address stays on it and its heartbeat Lease is deleted (src/agent/out-of-service.ts).
import { AGENT_COMPONENT, API_VERSION, GROUP, VERSION } from '../api/names.ts';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Lease,
  type V1Node,
  type V1Service,
} from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { ANN } from '../api/annotations.ts';
import type { LBNodeAgent, ServiceGroup } from '../api/types.ts';
import { DEFAULT_NODE_AGENT_CONFIG, parseLBNodeAgent, type NodeAgentConfig } from '../api/validate-lbnodeagent.ts';
import { formatProblem } from '../api/validation.ts';
import { createEventRecorder } from '../k8s/events.ts';
import { watchCache, type WatchedCache } from '../k8s/informer.ts';
import { patchServiceAnnotations } from '../k8s/patch.ts';
import type { Logger } from '../log.ts';
import { announceAddress, type Announcer } from './announce.ts';
import { decideAddresses, type AddressDecision } from './desired.ts';
import { HEARTBEAT_LABEL, isLive, nextExpiry, parseHeartbeat, type Heartbeat } from '../model/heartbeat.ts';
import { ServingGroups } from '../model/servicegroups.ts';
import { startHeartbeat } from './heartbeat.ts';
import { addressKey, localInterfaces, nodeSubnets, type KernelLink } from './interfaces.ts';
import { iproute2, type LinkSetup, type NetworkAdapter } from './iproute.ts';
import type { AgentMetrics } from './metrics.ts';
import { OUT_OF_SERVICE_CAUSES, outOfServiceReason, slimNode, type OutOfServiceCause } from './out-of-service.ts';
import { loadOwnership } from './ownership.ts';
import { batchLine, keepSecondaries, planChanges, type AddressChange } from './plan.ts';
import { announcementEvents, announcementsByService, type ServiceAnnouncements } from './report.ts';
import { nodesWithEndpoints, serviceInput, serviceKey, type ServiceInput } from '../model/services.ts';

export const EVENT_COMPONENT = AGENT_COMPONENT;

export interface AgentOptions {
  kc: KubeConfig;
  /** Install namespace: LBNodeAgent, ServiceGroups and heartbeat Leases live here. */
  namespace: string;
  node: string;
  /** Name of the LBNodeAgent object to follow. */
  configName: string;
  /** Link kind used to create the virtual interface when missing (dummy; ifb where dummy is unavailable). */
  linkKind: string;
  renewMs: number;
  durationS: number;
  /** Full reconcile even without events (interface changes made by others, lifetime renewal). */
  resyncMs: number;
  /** Valid lifetime of local addresses in seconds: an address left by a dead agent expires. 0 = permanent. */
  localLifetimeS: number;
  /** On SIGTERM keep the addresses and the heartbeat Lease valid this long for the next agent on the
   * node; 0 = hand local addresses over at once. */
  restartGraceS: number;
  stateFile: string;
  log: Logger;
  metrics: AgentMetrics;
  net?: NetworkAdapter;
  announce?: Announcer;
  /** Called after every reconcile with the virtual addresses as placed (routing integration). */
  onVirtualAddresses?: (cidrs: string[], extlbint: string) => void;
  /** What takes this node out of service (default: cordoned and the exclude label); empty = never. */
  outOfServiceCauses?: ReadonlySet<OutOfServiceCause>;
}

export interface Agent {
  ready(): true | string;
  healthy(): true | string;
  /** Graceful shutdown: withdraw local addresses, delete the heartbeat Lease, stop. Virtual addresses stay (unless out of service). */
  stop(): Promise<void>;
}

const STUCK_MS = 60_000;
/** Like client-go's event broadcaster, drop events beyond a backlog rather than hold memory and the apiserver. */
const MAX_QUEUED_EVENTS = 1000;

/** Membership as the election sees it: who is live with which subnets. Lease renewals alone do not change it. */
const membership = (beats: Heartbeat[], now: number) =>
  beats
    .filter((h) => isLive(h, now))
    .map((h) => `${h.node}=${h.subnets.map((s) => `${s.ip.value}/${s.prefix}`).join('+')}`)
    .sort()
    .join(' ');

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { kc, namespace, node, log, metrics } = opts;
  const net = opts.net ?? iproute2;
  const announce = opts.announce ?? announceAddress;
  const ownership = await loadOwnership(opts.stateFile);
  const events = createEventRecorder(kc, EVENT_COMPONENT, log, node);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const crList = (plural: string) => () =>
    custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural });

  const services = watchCache<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces(), log);
  const slices = watchCache<V1EndpointSlice>(
    kc,
    '/apis/discovery.k8s.io/v1/endpointslices',
    () => discovery.listEndpointSliceForAllNamespaces(),
    log,
  );
  const groups = watchCache<ServiceGroup>(
    kc,
    `/apis/${API_VERSION}/namespaces/${namespace}/servicegroups`,
    crList('servicegroups'),
    log,
  );
  const agents = watchCache<LBNodeAgent>(
    kc,
    `/apis/${API_VERSION}/namespaces/${namespace}/lbnodeagents`,
    crList('lbnodeagents'),
    log,
  );
  const leases = watchCache<V1Lease>(
    kc,
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    () => coordination.listNamespacedLease({ namespace, labelSelector: `${HEARTBEAT_LABEL}=node` }),
    log,
    { labelSelector: `${HEARTBEAT_LABEL}=node` },
  );
  // Only this node's Node, by field selector: one small watch per node, whatever the cluster size.
  const ownNode = `metadata.name=${node}`;
  const nodes = watchCache<V1Node>(kc, '/api/v1/nodes', () => core.listNode({ fieldSelector: ownNode }), log, {
    fieldSelector: ownNode,
  });
  nodes.onChange((obj, kind) => (kind === 'relist' ? nodes.list().forEach(slimNode) : obj && slimNode(obj)));
  const caches: WatchedCache<KubernetesObject>[] = [services, slices, groups, agents, leases, nodes];
  // managedFields are often most of an object and the agent never reads them: 10,000 Services cost
  // far less memory without them.
  const slim = (o: KubernetesObject | undefined) => {
    if (o?.metadata) delete o.metadata.managedFields;
  };
  for (const c of caches) c.onChange((obj, kind) => (kind === 'relist' ? c.list().forEach(slim) : slim(obj)));

  const queue = new PQueue({ concurrency: 1 });
  let synced = false;
  let stopping = false;
  /** Stopping for a restart (restart grace): a reconcile still running keeps this node a candidate. */
  let keepOnStop = false;
  let firstReconcileDone = false;
  let reconcileStartedAt: number | undefined;
  let lastMembership = '';
  let expiryTimer: NodeJS.Timeout | undefined;
  let config: NodeAgentConfig = DEFAULT_NODE_AGENT_CONFIG;
  let configProblem = '';
  /** What this node announced per Service after the last reconcile; undefined before the first one. */
  let announced: Map<string, ServiceAnnouncements> | undefined;
  // Events are best effort and written one at a time, so thousands of them (a new node with 10,000
  // Services) never crowd out the heartbeat or the reconciles on the apiserver connection.
  const eventQueue = new PQueue({ concurrency: 1 });
  let hasLocalAddresses = false;
  /** Services that were inputs of the last reconcile: a change that makes one not ours must still reconcile. */
  let knownServices = new Set<string>();
  /** The ServiceGroups that serve, as the allocator decides (virtual address prefixes come from them). */
  const servingGroups = new ServingGroups();
  const annotationWrites = new Map<string, { value: string; at: number }>();
  /** Interfaces already warned about for promote_secondaries being off: one warning each. */
  const promotionWarned = new Set<string>();
  const outOfServiceCauses = opts.outOfServiceCauses ?? new Set(OUT_OF_SERVICE_CAUSES);
  const currentOutOfService = () => outOfServiceReason(nodes.get(node), outOfServiceCauses);
  /** Out-of-service reason the last reconcile applied (undefined = in service). */
  let appliedOutOfService: string | undefined;
  /** Last reason seen on a Node event: only a change triggers a reconcile (status updates do not). */
  let seenOutOfService: string | undefined;
  let heartbeatSuspended = false;
  /** While out of service: the heartbeat Lease was deleted (retried by the next reconcile if not). */
  let leaseReleased = false;

  /** At most one reconcile waits while one runs; the waiting one reads the newest state when it starts. */
  const trigger = () => {
    if (synced && queue.size === 0) void queue.add(reconcileSafely);
  };

  const peerHeartbeats = (): Heartbeat[] =>
    leases
      .list()
      .map(parseHeartbeat)
      .filter((h): h is Heartbeat => !!h && h.node !== node);

  /** Re-elects when a peer's Lease expires (expiry is not an API event) or membership changed. */
  const checkMembership = () => {
    clearTimeout(expiryTimer);
    const now = Date.now();
    const peers = peerHeartbeats();
    const current = membership(peers, now);
    if (current !== lastMembership) trigger();
    const next = nextExpiry(peers, now);
    if (next !== undefined && !stopping) expiryTimer = setTimeout(checkMembership, next - now + 5);
  };

  const readConfig = (): NodeAgentConfig => {
    const obj = agents.get(opts.configName, namespace);
    if (!obj) return DEFAULT_NODE_AGENT_CONFIG;
    const { config: parsed, problems } = parseLBNodeAgent(obj);
    const problem = problems.map(formatProblem).join('; ');
    if (problem && problem !== configProblem) {
      log.error('invalid LBNodeAgent, keeping the last good configuration', {
        lbnodeagent: `${namespace}/${opts.configName}`,
        problems: problem,
      });
      events.emit({ ...obj, apiVersion: API_VERSION, kind: 'LBNodeAgent' }, 'Warning', 'InvalidConfig', problem);
    }
    configProblem = problem;
    return problem ? config : parsed;
  };

  const heartbeat = startHeartbeat({
    kc,
    namespace,
    node,
    renewMs: opts.renewMs,
    durationS: opts.durationS,
    log,
    onLiveChange: (live) => {
      metrics.fenced.set(live ? 0 : 1);
      // only local addresses depend on this node's own heartbeat
      if (hasLocalAddresses) trigger();
    },
    onRenewFailure: () => metrics.heartbeatFailures.inc(),
  });

  /**
   * One warning (log and a Warning event on the Node) per interface where deleting a primary IPv4
   * address deletes its secondaries too. The agent copes (plan.ts, keepSecondaries); the host sysctl
   * avoids the brief withdraw and re-add that routing daemons see.
   */
  const warnPromotionOff = (ifname: string, sysctlError?: string) => {
    if (promotionWarned.has(ifname)) return;
    promotionWarned.add(ifname);
    const fix = 'net.ipv4.conf.all.promote_secondaries=1';
    log.warn(
      'promote_secondaries is off: the agent puts back addresses the kernel removes with the primary of their subnet; set the sysctl on the node to avoid the brief flap',
      {
        node,
        interface: ifname,
        sysctl: fix,
        ...(sysctlError ? { error: `cannot set it from the container: ${sysctlError}` } : {}),
      },
    );
    events.emit(
      { apiVersion: 'v1', kind: 'Node', metadata: { name: node, uid: node } },
      'Warning',
      'PromoteSecondariesOff',
      `net.ipv4.conf.all.promote_secondaries and net.ipv4.conf.${ifname}.promote_secondaries are 0` +
        `${sysctlError ? ` and the agent cannot set them (${sysctlError})` : ''}: when the agent deletes the primary IPv4 address` +
        ` of a subnet on ${ifname}, the kernel deletes the other addresses of that subnet too. The agent puts them back in the` +
        ` same ip batch, which routing daemons see as a brief withdraw and re-announce. Set ${fix} on the node to avoid it.`,
    );
  };

  const linkReady = (ifname: string, setup: LinkSetup) => {
    if (!setup.promoteSecondaries) warnPromotionOff(ifname, setup.sysctlError);
    else if (setup.sysctlError)
      log.debug('cannot set promote_secondaries, but the node has it on', {
        interface: ifname,
        error: setup.sysctlError,
      });
  };

  /** Restores are needless (and dropped) on interfaces whose kernel promotes a secondary itself. */
  const dropNeedlessRestores = async (changes: AddressChange[]): Promise<AddressChange[]> => {
    const ifnames = [...new Set(changes.filter((c) => c.restore).map((c) => c.ifname))];
    if (ifnames.length === 0) return changes;
    const off = new Set<string>();
    for (const n of ifnames) if (!(await net.promotesSecondaries(n))) off.add(n);
    for (const n of off) warnPromotionOff(n);
    return changes.filter((c) => !c.restore || off.has(c.ifname));
  };

  const logRestores = (applied: AddressChange[]) => {
    const restored = applied.filter((c) => c.restore);
    for (const ifname of new Set(restored.map((c) => c.ifname))) {
      log.info(
        'put back addresses the kernel removed with the primary address of their subnet (promote_secondaries off)',
        { interface: ifname, addresses: restored.filter((c) => c.ifname === ifname).map((c) => `${c.ip}/${c.prefix}`) },
      );
    }
  };

  const readNode = async (
    cfg: NodeAgentConfig,
  ): Promise<{ links: KernelLink[]; candidates: Record<4 | 6, string[]> }> => {
    let [links, r4, r6] = await Promise.all([net.readLinks(), net.readDefaultRoutes(4), net.readDefaultRoutes(6)]);
    if (!links.some((l) => l.ifname === cfg.extlbint)) {
      linkReady(cfg.extlbint, await net.ensureLink(cfg.extlbint, opts.linkKind));
      log.info('created virtual interface', { interface: cfg.extlbint, kind: opts.linkKind });
      links = await net.readLinks();
    }
    return {
      links,
      candidates: {
        4: localInterfaces(cfg.localint, links, r4, cfg.extlbint),
        6: localInterfaces(cfg.localint, links, r6, cfg.extlbint),
      },
    };
  };

  const serviceRef = (key: string): KubernetesObject | undefined => {
    const [ns, name] = key.split('/');
    const svc = services.get(name!, ns);
    return svc && { apiVersion: 'v1', kind: 'Service', metadata: svc.metadata };
  };

  const writeAnnouncing = (decisions: AddressDecision[], inputs: Map<string, ServiceInput>) => {
    for (const d of decisions.filter((x) => x.kind === 'local' && x.announce)) {
      const value = `${node},${d.ifname}`;
      for (const key of d.services) {
        const svc = inputs.get(key);
        const slot = `${key} ${d.family}`;
        const last = annotationWrites.get(slot);
        if (!svc || svc.announcing[d.family] === value || (last?.value === value && Date.now() - last.at < 5000))
          continue;
        annotationWrites.set(slot, { value, at: Date.now() });
        const [ns, name] = key.split('/');
        patchServiceAnnotations(core, ns!, name!, {
          [d.family === 4 ? ANN.announcingIPv4 : ANN.announcingIPv6]: value,
        }).catch((err: unknown) =>
          log.warn('could not write announcing annotation', { service: key, error: String(err) }),
        );
      }
    }
  };

  const nodeRef = (): KubernetesObject => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: node, uid: nodes.get(node)?.metadata?.uid ?? node },
  });

  /** One log line and one Node event when the node goes out of service or comes back. */
  const reportServiceChange = (
    from: string | undefined,
    to: string | undefined,
    held: AddressDecision[],
    withdrawn: AddressChange[],
  ) => {
    if (from === to) return;
    if (from && to) {
      log.info('node still out of service, for another reason', { node, reason: to });
      return;
    }
    const count = (kind: 'local' | 'virtual', list: Array<{ kind: string }>) =>
      list.filter((x) => x.kind === kind).length;
    const [reason, note] = to
      ? [
          'OutOfService',
          `node ${node} is out of service because ${to}: withdrew ${count('virtual', withdrawn)} virtual and` +
            ` ${count('local', withdrawn)} local addresses and deleted its heartbeat Lease; the routers stop sending it traffic` +
            ' and other nodes take over its local addresses',
        ]
      : [
          'BackInService',
          `node ${node} is back in service: announces ${count('virtual', held)} virtual addresses and is an` +
            ' election candidate for local addresses again',
        ];
    log.info(to ? 'node out of service: withdrew its addresses and its heartbeat' : 'node back in service', {
      node,
      ...(to ? { reason: to } : {}),
      withdrawn: withdrawn.map((c) => `${c.ip}/${c.prefix}`),
      announced: held.length,
    });
    const ref = nodeRef();
    events.reset(ref, [reason]);
    events.emit(ref, 'Normal', reason, note);
  };

  const reconcile = async () => {
    reconcileStartedAt = Date.now();
    const end = metrics.reconcileDuration.startTimer();
    // Out of service: stop renewing first, so this node is no candidate in this reconcile; the Lease is
    // deleted only after the batch below has withdrawn the local addresses (as at shutdown).
    const outOfService = currentOutOfService();
    if (outOfService && !heartbeatSuspended) {
      heartbeat.suspend();
      heartbeatSuspended = true;
      leaseReleased = false;
      metrics.fenced.set(0);
    } else if (!outOfService && heartbeatSuspended) {
      heartbeatSuspended = false;
      if (!(await heartbeat.resume()))
        log.warn('back in service, but the heartbeat renewal failed; local addresses wait for the next one', { node });
    }
    metrics.outOfService.set(outOfService ? 1 : 0);
    config = readConfig();
    const { links, candidates } = await readNode(config);
    const owned = ownership.owned();
    heartbeat.setSubnets(nodeSubnets([...new Set([...candidates[4], ...candidates[6]])], links, owned));
    const now = Date.now();
    const peers = peerHeartbeats();
    lastMembership = membership(peers, now);
    const self = stopping && !keepOnStop ? undefined : heartbeat.self(now);
    const inputs = new Map(
      services
        .list()
        .map(serviceInput)
        .filter((s): s is ServiceInput => !!s)
        .map((s) => [s.key, s]),
    );
    knownServices = new Set(inputs.keys());
    const decisions = decideAddresses({
      node,
      links,
      localCandidates: candidates,
      owned,
      extlbint: config.extlbint,
      services: [...inputs.values()],
      endpoints: nodesWithEndpoints(slices.list()),
      heartbeats: self ? [...peers, self] : peers,
      groups: servingGroups.update(groups.list()),
      now,
      ...(outOfService ? { outOfService } : {}),
    });
    const byIp = new Map(decisions.map((d) => [d.ip, d]));
    hasLocalAddresses = decisions.some((d) => d.kind === 'local');
    const planOpts = { localLifetime: opts.localLifetimeS };
    const changes = await dropNeedlessRestores(planChanges(decisions, links, owned, planOpts));
    const failures = new Map<string, string>();
    const failedKeys = new Set<string>();
    let applied: AddressChange[] = [];
    if (changes.length) {
      const adds = changes.filter((c) => c.op === 'add' && !c.restore).map((c) => addressKey(c.ifname, c.ip, c.prefix));
      await ownership.update(adds, []); // before the kernel has them: a crash mid-batch must not orphan them
      const { failed } = await net.applyBatch(changes.map((c) => batchLine(c, planOpts)));
      for (const f of failed) {
        const c = changes[f.line - 1];
        if (!c) continue;
        failedKeys.add(`${c.ip} ${c.ifname}`);
        const d = byIp.get(c.ip);
        for (const svc of d?.services ?? [])
          failures.set(
            svc,
            `could not ${c.op === 'add' ? 'add' : 'remove'} ${c.ip}/${c.prefix} on ${c.ifname}: ${f.message}`,
          );
        log.error('kernel refused an address change', {
          address: `${c.ip}/${c.prefix}`,
          interface: c.ifname,
          op: c.op,
          error: f.message,
        });
      }
      if (failed.length) metrics.reconcileErrors.inc();
      applied = changes.filter((c) => !failedKeys.has(`${c.ip} ${c.ifname}`));
      const present = new Set(
        (await net.readLinks()).flatMap((l) => l.addrs.map((a) => addressKey(a.ifname, a.ip, a.prefix))),
      );
      await ownership.update(
        [],
        [...ownership.owned()].filter((k) => !present.has(k)),
      );
    }
    // Announce what this node now serves: addresses it just added, and addresses it kept on the interface
    // while another node may have announced them (an agent restarted after a SIGKILL wins the election
    // back while the LAN still sends the address to the interim owner).
    const addedNow = applied.filter((x) => x.op === 'add' && x.kind === 'local' && !x.renew && !x.restore);
    const reclaimed = decisions
      .filter(
        (d) =>
          d.kind === 'local' &&
          d.announce &&
          !failedKeys.has(`${d.ip} ${d.ifname}`) &&
          !addedNow.some((c) => c.ip === d.ip) &&
          // the first reconcile cannot know what the LAN learned while no agent ran here: announce all
          (!firstReconcileDone ||
            d.services.some((s) => {
              const a = inputs.get(s)?.announcing[d.family];
              return !!a && !a.startsWith(`${node},`);
            })),
      )
      .map((d) => ({ ip: d.ip, ifname: d.ifname, family: d.family }));
    for (const c of [...addedNow, ...reclaimed]) {
      const d = byIp.get(c.ip)!;
      metrics.electionWins.inc();
      const previous = d.services
        .map((s) => inputs.get(s)?.announcing[c.family])
        .find((v) => v && !v.startsWith(`${node},`));
      if (previous) metrics.failovers.inc();
      log.info('announcing local address', {
        address: c.ip,
        interface: c.ifname,
        services: d.services,
        previousOwner: previous ?? '',
      });
      if (config.sendgarp) {
        announce(c.ifname, c.ip, c.family).then(
          () => log.debug('sent gratuitous ARP / unsolicited NA', { address: c.ip, interface: c.ifname }),
          (err: unknown) =>
            log.warn('could not send gratuitous ARP / unsolicited NA', {
              address: c.ip,
              interface: c.ifname,
              error: String(err),
            }),
        );
      }
    }
    for (const c of applied.filter((x) => x.op === 'del'))
      log.info('withdrew address', { address: `${c.ip}/${c.prefix}`, interface: c.ifname, kind: c.kind });
    logRestores(applied);
    writeAnnouncing(
      decisions.filter((d) => !failedKeys.has(`${d.ip} ${d.ifname}`)),
      inputs,
    );
    if (outOfService && !leaseReleased) {
      await heartbeat.release(); // the peers re-elect on the deletion, now that the local addresses are gone
      leaseReleased = true;
    }

    const after = announcementsByService(decisions, failedKeys);
    // After a restart, addresses found already in place were announced before: no event for them.
    const placedNow = new Set(
      applied.filter((c) => c.op === 'add' && !c.renew && !c.restore).map((c) => `${c.ip} ${c.ifname}`),
    );
    const before =
      announced ??
      announcementsByService(
        decisions.filter((d) => !placedNow.has(`${d.ip} ${d.ifname}`)),
        failedKeys,
      );
    // Out of service, one Node event tells it instead of a Withdrawn event on every Service; what this
    // node announced before stays the reference, so coming back writes events only for real differences.
    const serviceEvents = outOfService
      ? announcementEvents(node, new Map(), new Map(), decisions, failures)
      : announcementEvents(node, before, after, decisions, failures);
    let dropped = 0;
    for (const e of serviceEvents) {
      const ref = serviceRef(e.service);
      if (!ref) continue;
      if (eventQueue.size >= MAX_QUEUED_EVENTS) {
        dropped++;
        continue;
      }
      void eventQueue.add(async () => {
        events.reset(ref, [e.reason]);
        events.emit(ref, e.type, e.reason, e.note);
        await events.flush();
      });
    }
    if (dropped)
      log.warn('too many events at once, dropped some (the log and metrics still tell)', {
        dropped,
        queued: eventQueue.size,
      });
    if (!outOfService) announced = after;
    const held = decisions.filter((d) => d.announce && !failedKeys.has(`${d.ip} ${d.ifname}`));
    reportServiceChange(
      appliedOutOfService,
      outOfService,
      held,
      applied.filter((c) => c.op === 'del' && !c.restore),
    );
    appliedOutOfService = outOfService;
    metrics.announced.set({ kind: 'local' }, held.filter((d) => d.kind === 'local').length);
    metrics.announced.set({ kind: 'virtual' }, held.filter((d) => d.kind === 'virtual').length);
    opts.onVirtualAddresses?.(
      held.filter((d) => d.kind === 'virtual').map((d) => `${d.ip}/${d.prefix}`),
      config.extlbint,
    );
    log.debug('reconciled', { changes: changes.length, addresses: held.length, seconds: end() });
    reconcileStartedAt = undefined;
    firstReconcileDone = true;
  };

  /** Shutdown: removes every local address this agent placed, without a full reconcile (the next owner waits for it). */
  const withdrawLocal = async () => {
    const local: AddressChange[] = [...ownership.owned()].flatMap((key) => {
      const [ifname, cidr] = key.split(' ');
      const [ip, prefix] = (cidr ?? '').split('/');
      return ifname && ifname !== config.extlbint && ip && prefix
        ? [
            {
              op: 'del' as const,
              ifname,
              ip,
              family: ip.includes(':') ? (6 as const) : (4 as const),
              prefix: Number(prefix),
              kind: 'local' as const,
            },
          ]
        : [];
    });
    if (local.length === 0) return;
    try {
      // a local address may have become the primary of the node's own address: that must stay
      const links = await net.readLinks().catch(() => []);
      const owned = ownership.owned();
      const changes = await dropNeedlessRestores(
        keepSecondaries(local, links, (a) => (owned.has(addressKey(a.ifname, a.ip, a.prefix)) ? 'local' : 'foreign')),
      );
      const { failed } = await net.applyBatch(changes.map((c) => batchLine(c, { localLifetime: 0 })));
      const kept = new Set(failed.map((f) => f.line - 1));
      logRestores(changes.filter((_, i) => !kept.has(i)));
      await ownership.update(
        [],
        changes.filter((c, i) => c.op === 'del' && !kept.has(i)).map((c) => addressKey(c.ifname, c.ip, c.prefix)),
      );
      log.info('withdrew local addresses for shutdown', {
        addresses: local.map((c) => `${c.ip}/${c.prefix}`),
        failed: failed.map((f) => f.message),
      });
    } catch (err) {
      log.error('could not withdraw local addresses at shutdown; they expire with their lifetime', {
        error: String(err),
      });
    }
  };

  const reconcileSafely = async () => {
    try {
      await reconcile();
    } catch (err) {
      reconcileStartedAt = undefined;
      metrics.reconcileErrors.inc();
      log.error('reconcile failed, retrying with the next trigger', {
        node,
        error: String((err as Error)?.stack ?? err),
      });
    }
  };

  // Nothing is changed before every cache has synced: a partial view would withdraw addresses.
  await Promise.all(caches.map((c) => c.synced));
  config = readConfig();
  const first = await readNode(config);
  linkReady(config.extlbint, await net.ensureLink(config.extlbint, opts.linkKind));
  seenOutOfService = currentOutOfService();
  if (seenOutOfService) {
    // no heartbeat at all, so the peers never elect this node, not even briefly
    heartbeat.suspend();
    heartbeatSuspended = true;
    // An agent restarted on a node that was already out of service finds nothing of its own in place
    // and reports nothing again; one that must still withdraw something reports the change.
    if (ownership.owned().size === 0) appliedOutOfService = seenOutOfService;
    log.info('node is out of service: no heartbeat, no addresses', { node, reason: seenOutOfService });
  }
  // a suspended heartbeat only records the subnets; otherwise this writes the Lease
  heartbeat.setSubnets(
    nodeSubnets([...new Set([...first.candidates[4], ...first.candidates[6]])], first.links, ownership.owned()),
  );
  if (!seenOutOfService && !(await heartbeat.start()))
    log.warn('first heartbeat failed; local addresses wait for a successful renewal', { node });
  synced = true;
  for (const c of caches) if (c !== leases && c !== services && c !== nodes) c.onChange(() => trigger());
  leases.onChange(() => checkMembership());
  nodes.onChange(() => {
    const reason = currentOutOfService();
    if (reason === seenOutOfService) return;
    seenOutOfService = reason;
    trigger();
  });
  // Services that are not ours and never were (no brand or no address yet) cannot change anything.
  services.onChange((svc, kind) => {
    if (
      kind === 'relist' ||
      (svc && (serviceInput(svc) || knownServices.has(serviceKey(svc.metadata?.namespace, svc.metadata?.name))))
    )
      trigger();
  });
  await queue.add(reconcileSafely);
  checkMembership();
  const resync = setInterval(trigger, opts.resyncMs);
  log.info('node agent running', { node, namespace, extlbint: config.extlbint });

  return {
    ready: () => (firstReconcileDone ? true : 'first reconcile not done'),
    healthy: () =>
      reconcileStartedAt !== undefined && Date.now() - reconcileStartedAt > STUCK_MS
        ? `reconcile stuck for ${Date.now() - reconcileStartedAt} ms`
        : true,
    async stop() {
      keepOnStop = opts.restartGraceS > 0 && !currentOutOfService();
      stopping = true;
      clearInterval(resync);
      clearTimeout(expiryTimer);
      // A restart (rolling update, deleted pod) keeps every address on the node and the Lease valid for
      // the grace period, so the next agent takes over with nothing moved. A node taken out of service is
      // drained already (cordon); with no grace the local addresses are handed over at once.
      if (keepOnStop) {
        queue.clear();
        await queue.onIdle();
        await heartbeat.stopForRestart(opts.restartGraceS);
        log.info('stopping for a restart: addresses stay, the heartbeat Lease is valid for the restart grace', {
          graceSeconds: opts.restartGraceS,
        });
      } else {
        await heartbeat.stop(false);
        queue.clear();
        await queue.onIdle();
        await withdrawLocal();
        await heartbeat.stop(true);
      }
      eventQueue.clear();
      await eventQueue.onIdle();
      await Promise.all(caches.map((c) => c.stop()));
    },
  };
}
