// The node agent's controller. Every change enqueues one coalesced reconcile made of named steps:
// read (cluster and kernel), decide (src/agent/desired.ts), plan, apply (one `ip -batch`), announce
// (GARP/NA, the Service's announcing annotation), report (events, metrics, routing). It talks to the
// world only through ports: the cluster (./cluster.ts), the kernel (NetworkAdapter), the heartbeat
// Lease, the ownership record and the announcer, so unit tests drive it with fakes.
// A cordoned Node (or one with the exclude-from-external-load-balancers label) is out of service: no
// address stays on it and its heartbeat Lease is marked out of service (src/agent/out-of-service.ts).
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { formatIP, parseIP } from '../api/ip.ts';
import { API_VERSION } from '../api/names.ts';
import { DEFAULT_NODE_AGENT_CONFIG, parseLBNodeAgent, type NodeAgentConfig } from '../api/validate-lbnodeagent.ts';
import { formatProblem } from '../api/validation.ts';
import type { Logger } from '../log.ts';
import {
  formatLabels,
  formatProbeEndpoints,
  isLive,
  nextExpiry,
  parseHeartbeat,
  PROBE_RELEASED,
  PROBE_STOPPING,
  type Heartbeat,
  type ProbeEndpoint,
} from '../model/heartbeat.ts';
import { pickLabels, selectorKeys } from '../model/node-selector.ts';
import { ServingGroups } from '../model/servicegroups.ts';
import type { ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { addressServices, nodesWithEndpoints, serviceKey, type ServiceInput } from '../model/services.ts';
import { cachedServiceInput, readFieldsSignature } from './service-inputs.ts';
import type { AnnounceTarget, Announcer } from './announce.ts';
import type { AgentCluster } from './cluster.ts';
import { CoalescingQueue } from './coalescing-queue.ts';
import { decideAddresses, type AddressDecision } from './desired.ts';
import { announcingNode } from './election.ts';
import type { HeartbeatWriter } from './heartbeat.ts';
import { addressKey, lanAddresses, localInterfaces, nodeSubnets, type KernelLink } from './interfaces.ts';
import type { LinkSetup, NetworkAdapter } from './iproute.ts';
import type { AgentMetrics } from './metrics.ts';
import { OUT_OF_SERVICE_CAUSES, outOfServiceReason, type OutOfServiceCause } from './out-of-service.ts';
import type { OwnershipRecord } from './ownership.ts';
import { batchLine, keepSecondaries, planChanges, type AddressChange, type HeldAddress } from './plan.ts';
import { LifetimeRenewal } from './renewal.ts';
import { StoredClaims } from './claims.ts';
import type { DeadCause, OwnerProbe } from './owner-probe.ts';
import { succession, type WatchedOwner } from './succession.ts';
import { holdBackPendingSegments } from './pending-segments.ts';
import { announcementEvents, announcementsByService, type ServiceAnnouncements, type ServiceEvent } from './report.ts';
import type { AddressServices } from '../routing/attributes.ts';

export interface ControllerOptions {
  node: string;
  /** Install namespace and name of the LBNodeAgent (for messages). */
  namespace: string;
  configName: string;
  /** Link kind used to create the virtual interface when missing (dummy; ifb where dummy is unavailable). */
  linkKind: string;
  /** Valid lifetime of local addresses in seconds, renewed by ./renewal.ts: an address left by a dead
   * agent expires. 0 = permanent. */
  localLifetimeS: number;
  /** On stop keep the addresses and the heartbeat Lease valid this long for the next agent; 0 = hand over. */
  restartGraceS: number;
  /** What takes this node out of service (default: cordoned and the exclude label); empty = never. */
  outOfServiceCauses?: ReadonlySet<OutOfServiceCause>;
  /** Called after every reconcile with the virtual addresses as placed and the Services behind each
   * (routing integration: per-Service BGP attributes). */
  onVirtualAddresses?: (cidrs: string[], extlbint: string, services: AddressServices) => void;
  /** The health server's port and the address families it listens on, published on the heartbeat Lease
   * with the node's LAN addresses of those families so the successors of its local addresses probe it
   * (undefined: not reachable on the LAN, not published). */
  probeEndpoint?: {
    port: number;
    families: ReadonlyArray<4 | 6>;
    /** A stop that released the local addresses returns no sooner than this after the release, so the
     * health server answers PROBE_RELEASED that long: every successor's probe (one per interval, later
     * from a busy one) hears it. The probes' dead-after time: a later one is refused and waits that long. */
    releasedAnswerMs?: number;
  };
  log: Logger;
  metrics: AgentMetrics;
}

export interface Ports {
  cluster: AgentCluster;
  net: NetworkAdapter;
  heartbeat: HeartbeatWriter;
  ownership: OwnershipRecord;
  announce: Announcer;
  /** Probes the owners this node is the successor of (absent: takeovers wait for Lease expiry). */
  probe?: OwnerProbe;
}

/** Everything the read step found: one consistent view for the rest of the reconcile. */
interface View {
  outOfService: string | undefined;
  config: NodeAgentConfig;
  links: KernelLink[];
  candidates: Record<4 | 6, string[]>;
  owned: ReadonlySet<string>;
  peers: Heartbeat[];
  /** This node's subnets whose segment's Leases are not listed yet (see pending-segments.ts). */
  pendingSegments: string[];
  self: Heartbeat | undefined;
  inputs: Map<string, ServiceInput>;
  /** Nodes with a ready or serving endpoint, per Service key. */
  endpoints: Map<string, Set<string>>;
  groups: ServiceGroupConfig[];
  /** This node's labels. */
  labels: Record<string, string>;
  now: number;
}

/** What the apply step did. */
interface Outcome {
  changes: AddressChange[];
  applied: AddressChange[];
  /** "ip ifname" of the changes the kernel refused. */
  failedKeys: Set<string>;
  /** Per Service key: why its address could not be changed. */
  failures: Map<string, string>;
}

const STUCK_MS = 60_000;
/** Announcing-annotation PATCHes in flight at once: a node taking 10,000 addresses holds the rest as
 * waiting entries, not as 10,000 open requests. */
const ANNOTATION_WRITERS = 8;
/** Like client-go's event broadcaster, drop events beyond a backlog rather than hold memory and the apiserver. */
const MAX_QUEUED_EVENTS = 1000;
/** At shutdown, events already queued (what this node just did) get this long to be written. */
const SHUTDOWN_EVENT_FLUSH_MS = 2000;

/** Membership as the election sees it: who is live with which subnets and labels, and which nodes are
 * out of service or expired, and where and whether to probe them (./succession.ts). Lease renewals alone
 * do not change it. */
const membership = (beats: Heartbeat[], now: number) =>
  beats
    .map((h) =>
      isLive(h, now)
        ? `${h.node}=${h.subnets.map((s) => `${s.ip.value}/${s.prefix}`).join('+')}${formatLabels(h.labels)}${h.restarting ? '!restarting' : ''}@${formatProbeEndpoints(h.probe ?? [])}`
        : `${h.node}!${h.outOfService ? 'out' : 'expired'}`,
    )
    .sort()
    .join(' ');

/** The subnets this node publishes on its heartbeat Lease and watches the segments of. */
/** The interfaces that may carry local addresses, either family, once each. */
const lanInterfaces = (candidates: Record<4 | 6, string[]>) => [...new Set([...candidates[4], ...candidates[6]])];

const ownSubnets = (candidates: Record<4 | 6, string[]>, links: KernelLink[], owned: ReadonlySet<string>) =>
  nodeSubnets(lanInterfaces(candidates), links, owned);

/** One purelb.io/announcing-IPv4/-IPv6 write, conditional on the Service version it was decided on. */
interface AnnouncingWrite {
  key: string;
  family: 4 | 6;
  value: string;
  resourceVersion: string | undefined;
  /** A takeover from an owner that stopped answering or left (the value it replaces, and the address):
   * once stored, this node holds the address. */
  claim?: { replaced: string | undefined; address: AddressDecision };
}

const failedKey = (c: { ip: string; ifname: string }) => `${c.ip} ${c.ifname}`;

export class AgentController {
  readonly #o: ControllerOptions;
  readonly #p: Ports;
  readonly #log: Logger;
  readonly #queue = new PQueue({ concurrency: 1 });
  // Events are best effort and written one at a time, so thousands of them (a new node with 10,000
  // Services) never crowd out the heartbeat or the reconciles on the apiserver connection.
  readonly #eventQueue = new PQueue({ concurrency: 1 });
  readonly #servingGroups = new ServingGroups();
  /** Announcing writes per "namespace/name family": the value, when it was stored (Infinity while queued or
   * running) and the Service version it was decided on. */
  readonly #annotationWrites = new Map<string, { value: string; at: number; basedOn: string | undefined }>();
  readonly #annotationQueue: CoalescingQueue<AnnouncingWrite>;
  /** Interfaces already warned about for promote_secondaries being off: one warning each. */
  readonly #promotionWarned = new Set<string>();
  readonly #outOfServiceCauses: ReadonlySet<OutOfServiceCause>;
  readonly #renewal: LifetimeRenewal;
  /** Local addresses this node holds after the last apply: what the renewal keeps from expiring. */
  #held: HeldAddress[] = [];

  #synced = false;
  #stopping = false;
  /** Stopping, with the local addresses withdrawn: the probe answer says so. */
  #released = false;
  /** Stopping for a restart (restart grace): a reconcile still running keeps this node a candidate. */
  #keepOnStop = false;
  #firstReconcileDone = false;
  #reconcileStartedAt: number | undefined;
  #lastMembership = '';
  #expiryTimer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #config: NodeAgentConfig = DEFAULT_NODE_AGENT_CONFIG;
  #configProblem = '';
  /** What this node announced per Service after the last reconcile; undefined before the first one. */
  #announced: Map<string, ServiceAnnouncements> | undefined;
  #hasLocalAddresses = false;
  /** Per Service that is an input: what the reconcile reads of it (#inputSignature), as last seen. A
   * change that makes one not ours must still reconcile. */
  #seenInputs = new Map<string, string>();
  /** Services whose announcing write met a newer version (409): the next event of each reconciles, even
   * one that changes nothing the reconcile reads (e.g. the echo of this node's write of the other family). */
  readonly #conflicted = new Set<string>();
  /** The owners this node is the successor of, from the last reconcile (./succession.ts). */
  #watchedOwners = new Map<string, WatchedOwner>();
  /** The successors of the local addresses this node holds, from the last reconcile (told of a release). */
  #successors: ProbeEndpoint[] = [];
  readonly #claims = new StoredClaims();
  /** Addresses a takeover added outside a reconcile (#takeOver), until a reconcile has seen them on the
   * node: a reconcile that read the kernel before does not announce them a second time. */
  readonly #takenOver = new Set<string>();
  /** Takeovers running (#takeOver): a reconcile gives way to them at its next step (#nextStep). */
  #takeovers = 0;
  /** A reconcile gave way to a takeover: the last takeover to end triggers it again. */
  #gaveWay = false;
  /** Per owner the probe reported silent: the addresses it held when first reported. One it gained since
   * through a stored claim of its own (so its agent ran) is not claimed from it during that silence:
   * two busy nodes that each took the other for dead would otherwise hand addresses back and forth. */
  readonly #silentHeld = new Map<string, Set<string>>();
  /** Per owner that answered PROBE_RELEASED or whose probes were refused (its agent is gone): when this
   * node heard it. It is no candidate until its Lease is renewed after that (a new agent) or goes; the
   * reconciles meanwhile elect without it even while its Lease deletion (or expiry) is on its way. */
  readonly #goneOwners = new Map<string, number>();
  /** Out-of-service reason the last reconcile applied (undefined = in service). */
  #appliedOutOfService: string | undefined;
  /** Last reason seen on a Node event: only a change triggers a reconcile (status updates do not). */
  #seenOutOfService: string | undefined;
  /** Last labels seen on a Node event: a change may select or deselect this node for a ServiceGroup. */
  #seenLabels = '';
  #heartbeatSuspended = false;
  /** While out of service: the reason the heartbeat Lease is marked with (retried by the next reconcile if not). */
  #leaseMarked: string | undefined;

  constructor(options: ControllerOptions, ports: Ports) {
    this.#o = options;
    this.#p = ports;
    this.#log = options.log;
    this.#outOfServiceCauses = options.outOfServiceCauses ?? new Set(OUT_OF_SERVICE_CAUSES);
    this.#renewal = new LifetimeRenewal({
      lifetimeS: options.localLifetimeS,
      net: ports.net,
      held: () => this.#held,
      live: () => ports.heartbeat.self(Date.now()) !== undefined,
      log: options.log,
      onFailure: () => options.metrics.reconcileErrors.inc(),
    });
    this.#annotationQueue = new CoalescingQueue({
      concurrency: ANNOTATION_WRITERS,
      work: (batch) => Promise.all(batch.map(([slot, w]) => this.#setAnnouncing(slot, w))).then(() => undefined),
      onError: (err) => this.#log.warn('could not write announcing annotation', { error: err }),
    });
  }

  /** The heartbeat's fencing callback: only local addresses depend on this node's own heartbeat. */
  liveChanged(live: boolean): void {
    this.#o.metrics.fenced.set(live ? 0 : 1);
    if (this.#hasLocalAddresses) this.trigger();
  }

  /** Waits for the caches, sets up the node, runs the first reconcile and subscribes to changes. */
  async start(resyncMs: number): Promise<void> {
    const { cluster, net, heartbeat, ownership } = this.#p;
    const node = this.#o.node;
    await cluster.synced;
    this.#config = this.#readConfig();
    const first = await this.#readNode(this.#config);
    this.#linkReady(this.#config.extlbint, await net.ensureLink(this.#config.extlbint, this.#o.linkKind));
    this.#seenOutOfService = this.#currentOutOfService();
    this.#seenLabels = formatLabels(this.#ownLabels());
    if (this.#seenOutOfService) {
      // no renewal at all, so the peers never elect this node, not even briefly (the first reconcile marks the Lease)
      heartbeat.suspend();
      this.#heartbeatSuspended = true;
      // An agent restarted on a node that was already out of service finds nothing of its own in place
      // and reports nothing again; one that must still withdraw something reports the change.
      if (ownership.owned().size === 0) this.#appliedOutOfService = this.#seenOutOfService;
      this.#log.info('node is out of service: heartbeat Lease marked, no addresses', {
        node,
        reason: this.#seenOutOfService,
      });
    }
    // a suspended heartbeat only records the subnets and labels; otherwise this writes the Lease
    this.#publishLabels();
    const subnets = ownSubnets(first.candidates, first.links, ownership.owned());
    heartbeat.setSubnets(subnets);
    // the first election sees every peer of the node's segments (on a partial view it would take addresses they hold)
    await cluster.setSegments(subnets);
    if (!this.#seenOutOfService && !(await heartbeat.start()))
      this.#log.warn('first heartbeat failed; local addresses wait for a successful renewal', { node });
    this.#synced = true;
    this.#subscribe();
    await this.#queue.add(() => this.#reconcileSafely());
    this.#renewal.start();
    this.#checkMembership();
    this.#resyncTimer = setInterval(() => this.trigger(), resyncMs);
    this.#log.info('node agent running', { node, namespace: this.#o.namespace, extlbint: this.#config.extlbint });
  }

  ready(): true | string {
    return this.#firstReconcileDone ? true : 'first reconcile not done';
  }

  /** The answer to a successor's LAN probe: a candidate holds its local addresses; otherwise (fenced, out
   * of service, stopping) the successor may take them over at once. */
  candidate(): true | string {
    if (this.#released) return PROBE_RELEASED;
    if (this.#stopping) return PROBE_STOPPING;
    if (this.#heartbeatSuspended) return 'out of service';
    return this.#p.heartbeat.self(Date.now()) ? true : 'heartbeat not renewed (fenced)';
  }

  healthy(): true | string {
    const started = this.#reconcileStartedAt;
    return started !== undefined && Date.now() - started > STUCK_MS
      ? `reconcile stuck for ${Date.now() - started} ms`
      : true;
  }

  /**
   * A restart (rolling update, deleted pod) keeps every address on the node and the Lease valid for the
   * grace period, so the next agent takes over with nothing moved. A node taken out of service is
   * drained already (cordon); with no grace the local addresses are handed over at once.
   */
  async stop(): Promise<void> {
    const { heartbeat, cluster } = this.#p;
    let answering: Promise<unknown> | undefined;
    this.#keepOnStop = this.#o.restartGraceS > 0 && !this.#currentOutOfService();
    this.#stopping = true;
    this.#p.probe?.stop();
    clearInterval(this.#resyncTimer);
    clearTimeout(this.#expiryTimer);
    if (this.#keepOnStop) {
      this.#queue.clear();
      await this.#queue.onIdle();
      const extended = await heartbeat.stopForRestart(this.#o.restartGraceS);
      // the local addresses then expire with the extended Lease, not before (nor after) it
      await this.#renewal.stop(extended ? this.#o.restartGraceS : 0);
      this.#log.info('stopping for a restart: addresses stay, the heartbeat Lease is valid for the restart grace', {
        graceSeconds: this.#o.restartGraceS,
      });
    } else {
      await heartbeat.stop(false);
      this.#queue.clear();
      await this.#renewal.stop();
      // Not after the running reconcile (with 10,000 Services it may have most of a second to go): its
      // apply, like a takeover's add, is serialized with this and gives up once stopping. Released only
      // when the kernel kept none (else the successors wait for the probe's dead-after time or the Lease).
      this.#released = await this.#renewal.exclusive(() => this.#withdrawLocal());
      if (this.#released) {
        answering = sleep(this.#o.probeEndpoint?.releasedAnswerMs ?? 0);
        this.#p.probe?.tellReleased(this.#o.node, this.#successors);
      }
      await heartbeat.stop(true);
      await this.#queue.onIdle();
    }
    this.#annotationQueue.clear();
    // an unref'd timer: it never keeps the process alive once the events are written
    await Promise.race([this.#eventQueue.onIdle(), sleep(SHUTDOWN_EVENT_FLUSH_MS, undefined, { ref: false })]);
    this.#eventQueue.clear();
    await Promise.all([this.#eventQueue.onIdle(), this.#annotationQueue.onIdle()]);
    await cluster.stop();
    await answering;
  }

  /** At most one reconcile waits while one runs; the waiting one reads the newest state when it starts. */
  trigger(): void {
    if (this.#synced && this.#queue.size === 0) void this.#queue.add(() => this.#reconcileSafely());
  }

  /** Resolves when no reconcile runs or waits (tests). */
  idle(): Promise<void> {
    return this.#queue.onIdle();
  }

  #subscribe(): void {
    const { cluster } = this.#p;
    cluster.onChange('inputs', () => this.trigger());
    cluster.onChange('leases', () => this.#checkMembership());
    cluster.onChange('node', () => {
      const reason = this.#currentOutOfService();
      const labels = formatLabels(this.#ownLabels());
      if (reason === this.#seenOutOfService && labels === this.#seenLabels) return;
      this.#seenOutOfService = reason;
      this.#seenLabels = labels;
      this.trigger();
    });
    // Services that are not ours and never were (no brand or no address yet) cannot change anything, and
    // neither can an update that changes nothing the reconcile reads (the echo of this node's own
    // announcing write: 10,000 of them after a start with 10,000 local addresses).
    cluster.onChange('services', (svc) => {
      if (!svc) return this.trigger();
      const key = serviceKey(svc.metadata?.namespace, svc.metadata?.name);
      const current = cluster.service(svc.metadata?.namespace ?? '', svc.metadata?.name ?? '');
      const input = current && cachedServiceInput(current);
      if (!input) {
        if (this.#seenInputs.delete(key)) this.trigger();
        return;
      }
      const seen = this.#inputSignature(input);
      if (this.#seenInputs.get(key) === seen && !this.#conflicted.delete(key)) return;
      this.#seenInputs.set(key, seen);
      this.trigger();
    });
  }

  /** What a reconcile reads of a Service, without its version and without an announcing value this
   * node wrote itself (its echo changes no decision). */
  #inputSignature(input: ServiceInput): string {
    const announcing = ([4, 6] as const).map((f) => {
      const value = input.announcing[f];
      return value === this.#annotationWrites.get(`${input.key} ${f}`)?.value ? '' : (value ?? '');
    });
    return `${readFieldsSignature(input)} ${JSON.stringify(announcing)}`;
  }

  #ownLabels(): Record<string, string> {
    return this.#p.cluster.ownNode()?.metadata?.labels ?? {};
  }

  /** The peers evaluate the groups' node selectors against the labels in this node's heartbeat: only the keys they read. */
  #publishLabels(): { groups: ServiceGroupConfig[]; labels: Record<string, string> } {
    const groups = this.#servingGroups.update(this.#p.cluster.serviceGroups());
    const labels = this.#ownLabels();
    this.#p.heartbeat.setLabels(
      pickLabels(labels, selectorKeys(groups.flatMap((g) => [g.nodeSelectors, g.preferredNodeSelectors]))),
    );
    return { groups, labels };
  }

  #currentOutOfService(): string | undefined {
    return outOfServiceReason(this.#p.cluster.ownNode(), this.#outOfServiceCauses);
  }

  /** The other nodes' heartbeats, without the owners that released their addresses or lost their agent (#goneOwners). */
  #peerHeartbeats(): Heartbeat[] {
    return this.#p.cluster
      .heartbeatLeases()
      .map(parseHeartbeat)
      .filter((h): h is Heartbeat => !!h && h.node !== this.#o.node && !this.#isGone(h));
  }

  /** The owner released its addresses (or its agent is gone) and no agent has renewed its Lease since this
   * node heard it (the renewal in flight when it stopped carries a time before that; a new agent's, one after). */
  #isGone(h: Heartbeat): boolean {
    const heard = this.#goneOwners.get(h.node);
    if (heard === undefined) return false;
    if (h.renewedAt <= heard) return true;
    this.#goneOwners.delete(h.node);
    return false;
  }

  /** Membership, and the segments whose Leases are not listed yet: their listing re-elects too. */
  #membership(peers: Heartbeat[], now: number): string {
    return `${membership(peers, now)} pending:${this.#p.cluster.pendingSegments().join(',')}`;
  }

  /** Re-elects when a peer's Lease expires (expiry is not an API event) or membership changed. */
  #checkMembership(): void {
    clearTimeout(this.#expiryTimer);
    const now = Date.now();
    const peers = this.#peerHeartbeats();
    // an owner counted gone is forgotten once its Lease is deleted: the next agent on its node starts a new one
    // (the Lease list is not walked again on every Lease event when nothing was released)
    if (this.#goneOwners.size) {
      const leases = new Set(this.#p.cluster.heartbeatLeases().map((l) => l.spec?.holderIdentity));
      for (const owner of this.#goneOwners.keys()) if (!leases.has(owner)) this.#goneOwners.delete(owner);
    }
    this.#o.metrics.heartbeatPeers.set(peers.length);
    // An owner whose Lease was deleted (graceful stop, after it withdrew its addresses), marked out of
    // service (after its batch withdrew them) or expired (it fenced itself before) holds nothing: its
    // successor claims at once. The reconcile waits for the claims' outcome (which triggers it), so a
    // reconcile over 10,000 Services does not hold up the takeover on the same event loop.
    let claiming = false;
    for (const owner of this.#watchedOwners.keys()) {
      const beat = peers.find((h) => h.node === owner);
      if (!beat || !isLive(beat, now)) claiming = this.ownerUnreachable(owner, 'lease') || claiming;
    }
    if (!claiming && this.#membership(peers, now) !== this.#lastMembership) this.trigger();
    const next = nextExpiry(peers, now);
    if (next !== undefined && !this.#stopping)
      this.#expiryTimer = setTimeout(() => this.#checkMembership(), next - now + 5);
  }

  #readConfig(): NodeAgentConfig {
    const obj = this.#p.cluster.lbNodeAgent();
    if (!obj) return DEFAULT_NODE_AGENT_CONFIG;
    const { config: parsed, problems } = parseLBNodeAgent(obj);
    const problem = problems.map(formatProblem).join('; ');
    if (problem && problem !== this.#configProblem) {
      this.#log.error('invalid LBNodeAgent, keeping the last good configuration', {
        lbnodeagent: `${this.#o.namespace}/${this.#o.configName}`,
        problems: problem,
      });
      this.#p.cluster.events.emit(
        { ...obj, apiVersion: API_VERSION, kind: 'LBNodeAgent' },
        'Warning',
        'InvalidConfig',
        problem,
      );
    }
    this.#configProblem = problem;
    return problem ? this.#config : parsed;
  }

  async #readNode(cfg: NodeAgentConfig): Promise<{ links: KernelLink[]; candidates: Record<4 | 6, string[]> }> {
    const { net } = this.#p;
    const [found, r4, r6] = await Promise.all([net.readLinks(), net.readDefaultRoutes(4), net.readDefaultRoutes(6)]);
    let links = found;
    if (!links.some((l) => l.ifname === cfg.extlbint)) {
      this.#linkReady(cfg.extlbint, await net.ensureLink(cfg.extlbint, this.#o.linkKind));
      this.#log.info('created virtual interface', { interface: cfg.extlbint, kind: this.#o.linkKind });
      links = await net.readLinks();
    }
    return {
      links,
      candidates: {
        4: localInterfaces(cfg.localint, links, r4, cfg.extlbint),
        6: localInterfaces(cfg.localint, links, r6, cfg.extlbint),
      },
    };
  }

  async #reconcileSafely(): Promise<void> {
    try {
      await this.#reconcile();
    } catch (err) {
      this.#reconcileStartedAt = undefined;
      this.#o.metrics.reconcileErrors.inc();
      this.#log.error('reconcile failed, retrying with the next trigger', {
        node: this.#o.node,
        error: err,
        // an unexpected throw is a bug: keep where it came from
        stack: err instanceof Error ? err.stack : undefined,
      });
    }
  }

  async #reconcile(): Promise<void> {
    this.#reconcileStartedAt = Date.now();
    const end = this.#o.metrics.reconcileDuration.startTimer();
    if (this.#givesWay()) return this.#abandon();
    // Each step over 10,000 Services holds the event loop for 50-300 ms (more on a busy node): between
    // steps it answers and reads the LAN probes and runs takeovers, which must not wait for all of them.
    const view = await this.#read();
    if (!view || !(await this.#nextStep())) return this.#abandon();
    const decisions = this.#decide(view);
    this.#watchOwners(view, decisions);
    if (!(await this.#nextStep())) return this.#abandon();
    const changes = await this.#plan(decisions, view);
    const outcome = await this.#apply(changes, decisions, view);
    if (!outcome) return this.#abandon();
    this.#announce(view, decisions, outcome);
    // the peers re-elect on the mark, now that the local addresses are gone
    if (view.outOfService && this.#leaseMarked !== view.outOfService) {
      if (await this.#p.heartbeat.markOutOfService(view.outOfService)) this.#leaseMarked = view.outOfService;
    }
    await nextTurn();
    const held = this.#report(view, decisions, outcome);
    this.#log.debug('reconciled', { changes: outcome.changes.length, addresses: held.length, seconds: end() });
    this.#reconcileStartedAt = undefined;
    this.#firstReconcileDone = true;
  }

  /**
   * Between two steps: the event loop turns. False when the reconcile gives up before its next step: the
   * agent is stopping (it withdraws its local addresses itself, #withdrawLocal), or a takeover runs (it
   * triggers the reconcile again when done). With 10,000 Services each step left is 50-300 ms the stop
   * or the takeover would otherwise wait for at each of its own awaits (file write, `ip`, probe answer).
   */
  async #nextStep(): Promise<boolean> {
    await nextTurn();
    return !this.#givesWay();
  }

  #givesWay(): boolean {
    if (this.#takeovers > 0) this.#gaveWay = true;
    return this.#stopping || this.#takeovers > 0;
  }

  #abandon(): void {
    this.#reconcileStartedAt = undefined;
    this.#log.debug('reconcile abandoned: the agent is stopping or a takeover runs');
  }

  /** Step 1: one consistent view of the cluster, the kernel and the heartbeats (none once stopping). */
  async #read(): Promise<View | undefined> {
    const { heartbeat, ownership, cluster } = this.#p;
    // Out of service: stop renewing first, so this node is no candidate in this reconcile; the Lease is
    // marked (peers re-elect) only after the batch has withdrawn the local addresses (as at shutdown).
    const outOfService = this.#currentOutOfService();
    if (outOfService && !this.#heartbeatSuspended) {
      heartbeat.suspend();
      this.#heartbeatSuspended = true;
      this.#leaseMarked = undefined;
      this.#o.metrics.fenced.set(0);
    } else if (!outOfService && this.#heartbeatSuspended) {
      this.#heartbeatSuspended = false;
      if (!(await heartbeat.resume()))
        this.#log.warn('back in service, but the heartbeat renewal failed; local addresses wait for the next one', {
          node: this.#o.node,
        });
    }
    this.#o.metrics.outOfService.set(outOfService ? 1 : 0);
    this.#config = this.#readConfig();
    const { links, candidates } = await this.#readNode(this.#config);
    if (!(await this.#nextStep())) return undefined; // after parsing the kernel's 10,000 addresses
    const owned = ownership.owned();
    for (const ip of this.#takenOver)
      if (links.some((l) => l.addrs.some((a) => a.ip === ip))) this.#takenOver.delete(ip);
    const subnets = ownSubnets(candidates, links, owned);
    heartbeat.setSubnets(subnets);
    // a new subnet's peers are known once its Leases are listed (#decide holds back until then; the list triggers a reconcile)
    void cluster.setSegments(subnets);
    const probe = this.#o.probeEndpoint;
    if (probe) {
      // only where the health server listens: an endpoint that refuses every probe would make its peers'
      // takeovers wait for Lease expiry (a server bound to 0.0.0.0 takes no IPv6 connection)
      const ips = lanAddresses(lanInterfaces(candidates), links, owned).map((a) => parseIP(a.ip)!);
      heartbeat.setProbeEndpoints(
        formatProbeEndpoints(
          ips.filter((ip) => probe.families.includes(ip.family)).map((ip) => ({ ip, port: probe.port })),
        ),
      );
    }
    const { groups, labels } = this.#publishLabels();
    const now = Date.now();
    const peers = this.#peerHeartbeats();
    const pendingSegments = cluster.pendingSegments();
    this.#lastMembership = this.#membership(peers, now);
    const self = this.#stopping && !this.#keepOnStop ? undefined : heartbeat.self(now);
    const inputs = new Map(
      cluster
        .services()
        .map(cachedServiceInput)
        .filter((s): s is ServiceInput => !!s)
        .map((s) => [s.key, this.#claims.overlay(s)]),
    );
    this.#seenInputs = new Map([...inputs].map(([key, input]) => [key, this.#inputSignature(input)]));
    const endpoints = nodesWithEndpoints(cluster.endpointSlices());
    const config = this.#config;
    return {
      outOfService,
      config,
      links,
      candidates,
      owned,
      peers,
      pendingSegments,
      self,
      inputs,
      endpoints,
      groups,
      labels,
      now,
    };
  }

  /** Step 2: every address of every branded Service, held here or not, and why. */
  #decide(v: View): AddressDecision[] {
    const decided = decideAddresses({
      node: this.#o.node,
      links: v.links,
      localCandidates: v.candidates,
      owned: v.owned,
      extlbint: v.config.extlbint,
      services: [...v.inputs.values()],
      endpoints: v.endpoints,
      heartbeats: v.self ? [...v.peers, v.self] : v.peers,
      groups: v.groups,
      labels: v.labels,
      now: v.now,
      ...(v.outOfService ? { outOfService: v.outOfService } : {}),
    });
    const decisions = holdBackPendingSegments(decided, v.pendingSegments, v.owned);
    this.#hasLocalAddresses = decisions.some((d) => d.kind === 'local');
    return decisions;
  }

  /** Step 3: the kernel changes, without restores the kernel makes needless (promote_secondaries on). */
  async #plan(decisions: AddressDecision[], v: View): Promise<AddressChange[]> {
    return this.#dropNeedlessRestores(planChanges(decisions, v.links, v.owned));
  }

  /** Step 4: one `ip -batch`, then the held local addresses the renewal keeps; no renewal runs meanwhile.
   * Undefined once the agent is stopping: the stop's withdrawal may have run already. */
  async #apply(changes: AddressChange[], decisions: AddressDecision[], v: View): Promise<Outcome | undefined> {
    const outcome: Outcome = { changes, applied: [], failedKeys: new Set(), failures: new Map() };
    const applied = await this.#renewal.exclusive(async () => {
      if (this.#stopping) return false;
      if (changes.length > 0) await this.#applyBatch(decisions, outcome, v);
      const owned = this.#p.ownership.owned();
      const held = decisions
        .filter(
          (d) =>
            d.kind === 'local' &&
            d.announce &&
            !outcome.failedKeys.has(failedKey(d)) &&
            owned.has(addressKey(d.ifname, d.ip, d.prefix)),
        )
        .map(({ ifname, ip, prefix, family }) => ({ ifname, ip, prefix, family }));
      // a takeover added since the read is renewed too, until the reconcile it triggered decides it
      const decided = new Set(held.map((h) => h.ip));
      this.#held = [...held, ...this.#held.filter((h) => this.#takenOver.has(h.ip) && !decided.has(h.ip))];
      return true;
    });
    return applied ? outcome : undefined;
  }

  /** The ownership record is written before the kernel has the addresses, so a crash mid-batch never
   * orphans one, and pruned afterwards of what is not on the node: read again after a batch that deleted
   * (the kernel may delete more than asked, promote_secondaries off), else what the reconcile read plus
   * the adds that succeeded (a takeover waits for no second read of a table of 10,000 addresses). Only
   * keys this reconcile knew are pruned: one a takeover added since its read stays. */
  async #applyBatch(decisions: AddressDecision[], outcome: Outcome, v: View): Promise<void> {
    const { changes } = outcome;
    const { net, ownership } = this.#p;
    const adds = changes.filter((c) => c.op === 'add' && !c.restore).map((c) => addressKey(c.ifname, c.ip, c.prefix));
    await ownership.update(adds, []);
    const planOpts = { localLifetime: this.#renewal.lifetimeS };
    const { failed } = await net.applyBatch(changes.map((c) => batchLine(c, planOpts)));
    const byIp = new Map(decisions.map((d) => [d.ip, d]));
    for (const f of failed) {
      const c = changes[f.line - 1];
      if (!c) continue;
      outcome.failedKeys.add(failedKey(c));
      for (const svc of byIp.get(c.ip)?.services ?? [])
        outcome.failures.set(
          svc,
          `could not ${c.op === 'add' ? 'add' : 'remove'} ${c.ip}/${c.prefix} on ${c.ifname}: ${f.message}`,
        );
      this.#log.error('kernel refused an address change', {
        address: `${c.ip}/${c.prefix}`,
        interface: c.ifname,
        op: c.op,
        error: f.message,
      });
    }
    if (failed.length) this.#o.metrics.reconcileErrors.inc();
    outcome.applied = changes.filter((c) => !outcome.failedKeys.has(failedKey(c)));
    const keys = (ls: KernelLink[]) => ls.flatMap((l) => l.addrs.map((a) => addressKey(a.ifname, a.ip, a.prefix)));
    const present = new Set(
      changes.some((c) => c.op === 'del')
        ? keys(await net.readLinks())
        : [...keys(v.links), ...outcome.applied.map((c) => addressKey(c.ifname, c.ip, c.prefix))],
    );
    await ownership.update(
      [],
      [...v.owned, ...adds].filter((k) => !present.has(k)),
    );
  }

  /**
   * Step 5: announce what this node now serves on the LAN (GARP / unsolicited NA) and in the Service's
   * announcing annotation: addresses it just added, and addresses it kept on the interface while another
   * node may have announced them (an agent restarted after a SIGKILL wins the election back while the
   * LAN still sends the address to the interim owner).
   */
  #announce(v: View, decisions: AddressDecision[], o: Outcome): void {
    const node = this.#o.node;
    const byIp = new Map(decisions.map((d) => [d.ip, d]));
    const addedNow = o.applied.filter((x) => x.op === 'add' && x.kind === 'local' && !x.restore);
    const added = new Set(addedNow.map((c) => c.ip));
    // another node announced it since, and this node has not written its own claim back yet (once it has,
    // the next reconciles until the watch shows that write must not announce it again)
    const announcedElsewhere = (d: AddressDecision) =>
      d.services.some((s) => {
        const input = v.inputs.get(s);
        const a = input?.announcing[d.family];
        return (
          !!a &&
          !a.startsWith(`${node},`) &&
          !this.#writePending(`${s} ${d.family}`, `${node},${d.ifname}`, input?.resourceVersion)
        );
      });
    const reclaimed = decisions.filter(
      (d) =>
        d.kind === 'local' &&
        d.announce &&
        !o.failedKeys.has(failedKey(d)) &&
        !added.has(d.ip) &&
        !this.#takenOver.has(d.ip) &&
        // the first reconcile cannot know what the LAN learned while no agent ran here: announce all
        (!this.#firstReconcileDone || announcedElsewhere(d)),
    );
    const garps: AnnounceTarget[] = [];
    // an address a takeover added after this reconcile's read was announced then
    const announcedNow = addedNow.filter((c) => !this.#takenOver.delete(c.ip));
    for (const c of [...announcedNow, ...reclaimed]) {
      const d = byIp.get(c.ip)!;
      // a takeover's own claim hides the silent owner in the view: it is kept with the claim
      const previous = d.services
        .flatMap((s) => [v.inputs.get(s)?.announcing[c.family], this.#claims.replaced(s, c.family)])
        .find((x) => x && !x.startsWith(`${node},`));
      this.#logAnnounced(d, previous);
      if (v.config.sendgarp) garps.push({ ifname: c.ifname, ip: c.ip });
    }
    this.#p.announce(garps);
    for (const c of o.applied.filter((x) => x.op === 'del'))
      this.#log.info('withdrew address', { address: `${c.ip}/${c.prefix}`, interface: c.ifname, kind: c.kind });
    this.#logRestores(o.applied);
    this.#writeAnnouncing(
      decisions.filter((d) => !o.failedKeys.has(failedKey(d))),
      v.inputs,
    );
  }

  /** The log line and metrics of a local address this node starts announcing, taken over from `previous` if set. */
  #logAnnounced(d: AddressDecision, previous: string | undefined): void {
    this.#o.metrics.electionWins.inc();
    if (previous) this.#o.metrics.failovers.inc();
    this.#log.info('announcing local address', {
      address: d.ip,
      interface: d.ifname,
      services: d.services,
      previousOwner: previous ?? '',
    });
  }

  /** Step 2b: probe the owners of the local addresses this node would take over (not while it is no
   * candidate itself: fenced, out of service, stopping). */
  #watchOwners(v: View, decisions: AddressDecision[]): void {
    const { probe } = this.#p;
    if (!probe) return;
    if (this.#stopping) this.#watchedOwners = new Map<string, WatchedOwner>();
    else {
      const { owners, successors } = succession(this.#o.node, decisions, v.peers);
      this.#watchedOwners = v.self ? owners : new Map<string, WatchedOwner>();
      this.#successors = successors;
    }
    probe.watch(new Map([...this.#watchedOwners].map(([owner, w]) => [owner, w.endpoint])));
    // an owner no longer watched starts a new silence when it is watched again
    for (const owner of this.#silentHeld.keys()) if (!this.#watchedOwners.has(owner)) this.#silentHeld.delete(owner);
  }

  /**
   * The probe's report (`owner` has not answered on the LAN for its dead-after time, or answered that it
   * released its addresses), or the owner's heartbeat Lease is gone. Claims the addresses this node is
   * the successor for, by writing the announcing annotation of every Service using them with the
   * Service's resourceVersion as precondition: of two nodes claiming at once, one write is stored and the
   * other gets 409. An owner that may still hold the address (silent, or its Lease gone) loses it only
   * once the claims of all its Services are stored (#takeOver). One that released it, or whose agent is
   * gone (its probes are refused: nothing listens on its node, so nothing there can withdraw the address
   * before its lifetime runs out, whatever the claim), counts as gone from then on (#goneOwners): the
   * address goes on this node at once, and the claims follow; the reconcile removes it again if another
   * node's claim is stored first. Called again on every failed probe: a claim that met a conflict is
   * retried on the newer Service while the owner stays silent. Returns whether a claim is queued or in
   * flight: its outcome triggers a reconcile.
   */
  ownerUnreachable(owner: string, cause: DeadCause | 'lease' = 'probe'): boolean {
    const watched = this.#watchedOwners.get(owner);
    // a node that is no candidate itself (fenced, out of service, stopping) takes nothing over
    if (!watched || this.candidate() !== true) return false;
    // restarting since the last reconcile: the next agent on the node answers soon, nothing moves
    if (this.#peerHeartbeats().find((h) => h.node === owner)?.restarting) return false;
    const addFirst = cause === 'released' || cause === 'refused';
    if (addFirst && !this.#goneOwners.has(owner)) this.#goneOwners.set(owner, Date.now());
    const held = this.#silentHeld.get(owner) ?? new Set(watched.addresses.map((d) => d.ip));
    if (cause === 'probe') this.#silentHeld.set(owner, held);
    const claimed = new Set<string>();
    const addNow: { d: AddressDecision; replaced: string | undefined }[] = [];
    let inFlight = false;
    for (const d of watched.addresses) {
      const value = `${this.#o.node},${d.ifname}`;
      let current = 0;
      for (const key of d.services) {
        const svc = this.#cachedService(key);
        const slot = `${key} ${d.family}`;
        const resourceVersion = svc?.metadata?.resourceVersion;
        const input = svc && cachedServiceInput(svc);
        // the address was decided on an older version: the reconcile decides on this one
        if (!input?.addresses.some((ip) => formatIP(ip) === d.ip)) continue;
        if (++current === d.services.length && addFirst) addNow.push({ d, replaced: input.announcing[d.family] });
        if (cause === 'probe' && !held.has(d.ip) && announcingNode(input.announcing[d.family]) === owner) continue;
        // the watch shows this node's claim already: a probe that failed before the reconcile caught up
        // would otherwise write it once more
        if (input.announcing[d.family] === value) continue;
        if (this.#writePending(slot, value, resourceVersion)) {
          inFlight ||= this.#annotationWrites.get(slot)!.at === Infinity;
          continue;
        }
        this.#annotationWrites.set(slot, { value, at: Infinity, basedOn: resourceVersion });
        const claim = { replaced: input.announcing[d.family], address: d };
        this.#annotationQueue.put(slot, { key, family: d.family, value, resourceVersion, claim });
        claimed.add(d.ip);
      }
    }
    const why = {
      probe: 'it does not answer on the LAN',
      released: 'it released them',
      refused: 'its agent is gone (its health port refuses)',
      lease: 'its heartbeat Lease is gone, expired or out of service',
    }[cause];
    if (claimed.size)
      this.#log.info('claiming the local addresses of an owner', { owner, why, addresses: [...claimed] });
    for (const { d, replaced } of addNow) void this.#takeOverOrWarn(d, replaced);
    return inFlight || claimed.size > 0;
  }

  /** Every Service using the address names this node (`value`), stored or shown by the watch. */
  #claimed(d: AddressDecision, value: string): boolean {
    return d.services.every((key) => {
      const svc = this.#cachedService(key);
      return (
        this.#claims.holds(key, d.family, value) || (svc && cachedServiceInput(svc)?.announcing[d.family]) === value
      );
    });
  }

  /** A claim of `value` for another Service using the address is queued or running. */
  #claimsInFlight(d: AddressDecision, value: string): boolean {
    return d.services.some((key) => {
      const w = this.#annotationWrites.get(`${key} ${d.family}`);
      return w?.value === value && w.at === Infinity;
    });
  }

  /** The probe's report: `owner` answers again after it was reported silent. */
  ownerAnswers(owner: string): void {
    this.#silentHeld.delete(owner);
    this.#goneOwners.delete(owner);
  }

  /**
   * Step 4 for a takeover, outside a reconcile: once the claims of all the address's Services are stored
   * (#claimed), it goes on the node and the LAN hears it now. With 10,000 Services a reconcile takes most of a
   * second; the one that follows (triggered by the claim) decides it with everything else and removes it
   * if something changed meanwhile. A reconcile in progress gives way to it (#nextStep).
   */
  async #takeOver(d: AddressDecision, replaced: string | undefined): Promise<void> {
    this.#takeovers++;
    try {
      await this.#addTakenOver(d, replaced);
    } finally {
      if (--this.#takeovers === 0 && this.#gaveWay) {
        this.#gaveWay = false;
        this.trigger();
      }
    }
  }

  async #addTakenOver(d: AddressDecision, replaced: string | undefined): Promise<void> {
    const { net, ownership } = this.#p;
    const key = addressKey(d.ifname, d.ip, d.prefix);
    const added = await this.#renewal.exclusive(async () => {
      if (this.candidate() !== true || ownership.owned().has(key)) return false;
      await ownership.update([key], []);
      const change: AddressChange = {
        op: 'add',
        ifname: d.ifname,
        ip: d.ip,
        family: d.family,
        prefix: d.prefix,
        kind: 'local',
      };
      const { failed } = await net.applyBatch([batchLine(change, { localLifetime: this.#renewal.lifetimeS })]);
      if (failed.length) throw new Error(failed[0]!.message);
      this.#takenOver.add(d.ip);
      this.#held = [...this.#held, { ifname: d.ifname, ip: d.ip, prefix: d.prefix, family: d.family }];
      return true;
    });
    if (!added) return;
    this.#logAnnounced(d, replaced);
    if (this.#config.sendgarp) this.#p.announce([{ ifname: d.ifname, ip: d.ip }]);
  }

  #takeOverOrWarn(d: AddressDecision, replaced: string | undefined): Promise<void> {
    return this.#takeOver(d, replaced).catch((err: unknown) =>
      this.#log.warn('could not add a claimed local address; the next reconcile retries', {
        address: `${d.ip}/${d.prefix}`,
        interface: d.ifname,
        error: err,
      }),
    );
  }

  /** The announcing annotation of the Services of local addresses this node holds; a write is not
   * repeated while it waits or runs, nor within 5 s after it succeeded while the watch has not shown it yet. */
  #writeAnnouncing(decisions: AddressDecision[], inputs: Map<string, ServiceInput>): void {
    for (const d of decisions.filter((x) => x.kind === 'local' && x.announce)) {
      const value = `${this.#o.node},${d.ifname}`;
      for (const key of d.services) {
        const svc = inputs.get(key);
        const slot = `${key} ${d.family}`;
        if (!svc || svc.announcing[d.family] === value || this.#writePending(slot, value, svc.resourceVersion))
          continue;
        // queued: done when it succeeds
        this.#annotationWrites.set(slot, { value, at: Infinity, basedOn: svc.resourceVersion });
        this.#annotationQueue.put(slot, { key, family: d.family, value, resourceVersion: svc.resourceVersion });
      }
    }
  }

  /** A write of `value` to this slot waits, runs or was stored less than 5 s ago, and the cache still holds
   * the Service version it was decided on. A newer version without the value (a Service deleted and created
   * again under the same name, or the annotation overwritten) is written anew. */
  #writePending(slot: string, value: string, resourceVersion: string | undefined): boolean {
    const last = this.#annotationWrites.get(slot);
    return last?.value === value && last.basedOn === resourceVersion && Date.now() - last.at < 5000;
  }

  async #setAnnouncing(slot: string, w: AnnouncingWrite): Promise<void> {
    const [ns, name] = w.key.split('/');
    try {
      await this.#p.cluster.setAnnouncing(ns!, name!, w.family, w.value, w.resourceVersion);
      this.#annotationWrites.set(slot, { value: w.value, at: Date.now(), basedOn: w.resourceVersion });
      if (w.claim) {
        const { replaced, address } = w.claim;
        this.#claims.add(w.key, { family: w.family, value: w.value, resourceVersion: w.resourceVersion, replaced });
        // the address waits for the claims of the other Services using it, and so does the reconcile (it
        // would hold up the add); the reconcile that follows retries a failed add and reports it
        if (this.#claimed(address, w.value)) await this.#takeOverOrWarn(address, replaced);
        else if (this.#claimsInFlight(address, w.value)) return;
        this.trigger();
      }
    } catch (err) {
      // whatever became of a claim, the reconcile decides next (a membership change waits for it)
      if (w.claim) this.trigger();
      // the next reconcile may write it again (after a conflict: once the watch shows the newer Service)
      this.#annotationWrites.delete(slot);
      if ((err as { code?: number }).code === 409) {
        this.#log.info('announcing annotation not written: the Service changed since this decision', {
          service: w.key,
        });
        // decide again on the newer Service: now if the watch has shown it already, else on its event
        if (this.#p.cluster.service(ns!, name!)?.metadata?.resourceVersion !== w.resourceVersion) this.trigger();
        else this.#conflicted.add(w.key);
      } else this.#log.warn('could not write announcing annotation', { service: w.key, error: err });
    }
  }

  /** Step 6: events on change, the node's service state, metrics and the routing hand-off. Returns what
   * the node holds. */
  #report(v: View, decisions: AddressDecision[], o: Outcome): AddressDecision[] {
    const after = announcementsByService(decisions, o.failedKeys);
    // After a restart, addresses found already in place were announced before: no event for them.
    const placedNow = new Set(o.applied.filter((c) => c.op === 'add' && !c.restore).map(failedKey));
    const before =
      this.#announced ??
      announcementsByService(
        decisions.filter((d) => !placedNow.has(failedKey(d))),
        o.failedKeys,
      );
    // Out of service, one Node event tells it instead of a Withdrawn event on every Service; what this
    // node announced before stays the reference, so coming back writes events only for real differences.
    const serviceEvents = v.outOfService
      ? announcementEvents(this.#o.node, new Map(), new Map(), decisions, o.failures)
      : announcementEvents(this.#o.node, before, after, decisions, o.failures);
    this.#queueEvents(serviceEvents);
    if (!v.outOfService) this.#announced = after;
    const held = decisions.filter((d) => d.announce && !o.failedKeys.has(failedKey(d)));
    this.#reportServiceChange(
      this.#appliedOutOfService,
      v.outOfService,
      held,
      o.applied.filter((c) => c.op === 'del' && !c.restore),
    );
    this.#appliedOutOfService = v.outOfService;
    const { metrics } = this.#o;
    metrics.announced.set({ kind: 'local' }, held.filter((d) => d.kind === 'local').length);
    metrics.announced.set({ kind: 'virtual' }, held.filter((d) => d.kind === 'virtual').length);
    const virtual = held.filter((d) => d.kind === 'virtual').map((d) => [`${d.ip}/${d.prefix}`, d.services] as const);
    this.#o.onVirtualAddresses?.(
      virtual.map(([cidr]) => cidr),
      v.config.extlbint,
      Object.fromEntries(virtual.map(([cidr, keys]) => [cidr, addressServices(keys, v.inputs)])),
    );
    return held;
  }

  /** Queues the events (beyond the backlog they are dropped). */
  #queueEvents(serviceEvents: ServiceEvent[]): void {
    const { events } = this.#p.cluster;
    let dropped = 0;
    for (const e of serviceEvents) {
      const ref = this.#serviceRef(e.service);
      if (!ref) continue;
      if (this.#eventQueue.size >= MAX_QUEUED_EVENTS) {
        dropped++;
        continue;
      }
      void this.#eventQueue.add(async () => {
        events.reset(ref, [e.reason]);
        events.emit(ref, e.type, e.reason, e.note);
        await events.flush();
      });
    }
    if (dropped)
      this.#log.warn('too many events at once, dropped some (the log and metrics still tell)', {
        dropped,
        queued: this.#eventQueue.size,
      });
  }

  /** The watch cache's Service for a "namespace/name" key. */
  #cachedService(key: string) {
    const [ns, name] = key.split('/');
    return this.#p.cluster.service(ns!, name!);
  }

  #serviceRef(key: string): KubernetesObject | undefined {
    const svc = this.#cachedService(key);
    return svc && { apiVersion: 'v1', kind: 'Service', metadata: svc.metadata };
  }

  #nodeRef(): KubernetesObject {
    const node = this.#o.node;
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node, uid: this.#p.cluster.ownNode()?.metadata?.uid ?? node },
    };
  }

  /** One log line and one Node event when the node goes out of service or comes back. */
  #reportServiceChange(
    from: string | undefined,
    to: string | undefined,
    held: AddressDecision[],
    withdrawn: AddressChange[],
  ): void {
    const node = this.#o.node;
    if (from === to) return;
    if (from && to) {
      this.#log.info('node still out of service, for another reason', { node, reason: to });
      return;
    }
    const count = (kind: 'local' | 'virtual', list: Array<{ kind: string }>) =>
      list.filter((x) => x.kind === kind).length;
    const [reason, note] = to
      ? [
          'OutOfService',
          `node ${node} is out of service because ${to}: withdrew ${count('virtual', withdrawn)} virtual and` +
            ` ${count('local', withdrawn)} local addresses and marked its heartbeat Lease out of service; the routers stop sending it traffic` +
            ' and other nodes take over its local addresses',
        ]
      : [
          'BackInService',
          `node ${node} is back in service: announces ${count('virtual', held)} virtual addresses and is an` +
            ' election candidate for local addresses again',
        ];
    this.#log.info(to ? 'node out of service: withdrew its addresses and its heartbeat' : 'node back in service', {
      node,
      ...(to ? { reason: to } : {}),
      withdrawn: withdrawn.map((c) => `${c.ip}/${c.prefix}`),
      announced: held.length,
    });
    const ref = this.#nodeRef();
    this.#p.cluster.events.reset(ref, [reason]);
    this.#p.cluster.events.emit(ref, 'Normal', reason, note);
  }

  /**
   * One warning (log and a Warning event on the Node) per interface where deleting a primary IPv4
   * address deletes its secondaries too. The agent copes (plan.ts, keepSecondaries); the host sysctl
   * avoids the brief withdraw and re-add that routing daemons see.
   */
  #warnPromotionOff(ifname: string, sysctlError?: string): void {
    if (this.#promotionWarned.has(ifname)) return;
    this.#promotionWarned.add(ifname);
    const node = this.#o.node;
    const fix = 'net.ipv4.conf.all.promote_secondaries=1';
    this.#log.warn(
      'promote_secondaries is off: the agent puts back addresses the kernel removes with the primary of their subnet; set the sysctl on the node to avoid the brief flap',
      {
        node,
        interface: ifname,
        sysctl: fix,
        ...(sysctlError ? { error: `cannot set it from the container: ${sysctlError}` } : {}),
      },
    );
    this.#p.cluster.events.emit(
      { apiVersion: 'v1', kind: 'Node', metadata: { name: node, uid: node } },
      'Warning',
      'PromoteSecondariesOff',
      `net.ipv4.conf.all.promote_secondaries and net.ipv4.conf.${ifname}.promote_secondaries are 0` +
        `${sysctlError ? ` and the agent cannot set them (${sysctlError})` : ''}: when the agent deletes the primary IPv4 address` +
        ` of a subnet on ${ifname}, the kernel deletes the other addresses of that subnet too. The agent puts them back in the` +
        ` same ip batch, which routing daemons see as a brief withdraw and re-announce. Set ${fix} on the node to avoid it.`,
    );
  }

  #linkReady(ifname: string, setup: LinkSetup): void {
    if (!setup.promoteSecondaries) this.#warnPromotionOff(ifname, setup.sysctlError);
    else if (setup.sysctlError)
      this.#log.debug('cannot set promote_secondaries, but the node has it on', {
        interface: ifname,
        error: setup.sysctlError,
      });
  }

  /** Restores are needless (and dropped) on interfaces whose kernel promotes a secondary itself. */
  async #dropNeedlessRestores(changes: AddressChange[]): Promise<AddressChange[]> {
    const ifnames = [...new Set(changes.filter((c) => c.restore).map((c) => c.ifname))];
    if (ifnames.length === 0) return changes;
    const off = new Set<string>();
    for (const n of ifnames) if (!(await this.#p.net.promotesSecondaries(n))) off.add(n);
    for (const n of off) this.#warnPromotionOff(n);
    return changes.filter((c) => !c.restore || off.has(c.ifname));
  }

  #logRestores(applied: AddressChange[]): void {
    const restored = applied.filter((c) => c.restore);
    for (const ifname of new Set(restored.map((c) => c.ifname))) {
      this.#log.info(
        'put back addresses the kernel removed with the primary address of their subnet (promote_secondaries off)',
        { interface: ifname, addresses: restored.filter((c) => c.ifname === ifname).map((c) => `${c.ip}/${c.prefix}`) },
      );
    }
  }

  /** Shutdown: removes every local address this agent placed, without a full reconcile (the next owner
   * waits for it). True when none is left. */
  async #withdrawLocal(): Promise<boolean> {
    const { net, ownership } = this.#p;
    const local = [...ownership.owned()].flatMap((key) => ownedLocalAddress(key, this.#config.extlbint));
    if (local.length === 0) return true;
    try {
      // a local address may have become the primary of the node's own address: that must stay
      const links = await net.readLinks([...new Set(local.map((c) => c.ifname))]).catch(() => []);
      const owned = ownership.owned();
      const changes = await this.#dropNeedlessRestores(
        keepSecondaries(local, links, (a) => (owned.has(addressKey(a.ifname, a.ip, a.prefix)) ? 'local' : 'foreign')),
      );
      const { failed } = await net.applyBatch(changes.map((c) => batchLine(c, { localLifetime: 0 })));
      const kept = new Set(failed.map((f) => f.line - 1));
      this.#logRestores(changes.filter((_, i) => !kept.has(i)));
      await ownership.update(
        [],
        changes.filter((c, i) => c.op === 'del' && !kept.has(i)).map((c) => addressKey(c.ifname, c.ip, c.prefix)),
      );
      this.#log.info('withdrew local addresses for shutdown', {
        addresses: local.map((c) => `${c.ip}/${c.prefix}`),
        failed: failed.map((f) => f.message),
      });
      return failed.length === 0;
    } catch (err) {
      this.#log.error('could not withdraw local addresses at shutdown; they expire with their lifetime', {
        error: err,
      });
      return false;
    }
  }
}

/** A removal of an owned address ("ifname ip/prefix") that is not on the virtual interface. */
function ownedLocalAddress(key: string, extlbint: string): AddressChange[] {
  const [ifname, cidr] = key.split(' ');
  const [ip, prefix] = (cidr ?? '').split('/');
  if (!ifname || ifname === extlbint || !ip || !prefix) return [];
  const family = ip.includes(':') ? 6 : 4;
  return [{ op: 'del', ifname, ip, family, prefix: Number(prefix), kind: 'local' }];
}
