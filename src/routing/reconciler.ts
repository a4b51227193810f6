// The node agent's routing side as one object with declared state, driven through two ports (ports.ts):
// the cluster (RouterConfigs, Node labels, Secrets, status, Events) and the routing daemon. A reconcile
// is a fixed sequence of named steps:
//   read     the Node's labels and uid (the RouterConfigs come from the port's watch);
//   decide   which RouterConfig selects this node; with none, delete this node's NodeRoutingStatus;
//   plan     parse and validate it: an invalid one is Rejected and the running daemon config is kept;
//   apply    resolve peer passwords, open the daemon for spec.daemon, have it apply the config;
//   announce log, Warning events and lastReload for the outcome (also handed to onRoutingRejected, which
//            publishes it on the node's heartbeat Lease); a Failed one is retried with backoff;
//   report   this node's NodeRoutingStatus, written only when it changed.
// With no RouterConfig selecting the node nothing touches the daemon.
import PQueue from 'p-queue';
import { formatProblem, type Problem } from '../api/validation.ts';
import {
  parseRouterConfig,
  type Daemon,
  type RouterConfig,
  type RouterConfigSpec,
} from '../api/validate-routerconfig.ts';
import { Backoff } from '../k8s/backoff.ts';
import { errorText, type Logger } from '../log.ts';
import type { ApplyResult, DaemonStatus, RouteAdvertiser } from './advertiser.ts';
import { advertisementsKey, type AddressServices } from './attributes.ts';
import {
  realTimers,
  type Cancel,
  type ConfigChange,
  type OpenDaemon,
  type RoutingClusterPort,
  type Timers,
} from './ports.ts';
import { reloadRejected } from '../model/eligibility.ts';
import { selectRouterConfig } from './select.ts';
import { buildNodeStatus, nextLastReload, sameStatus, type NodeRoutingStatus } from './status.ts';
import type { RoutingMetrics } from './metrics.ts';

export interface RoutingController {
  /** Desired virtual addresses of this node exactly as placed on kube-lb0, e.g. ["10.96.0.10/32","fd00:96::10/128"].
   * Call it only with a complete set (after the agent's caches synced): until the first call, a backend that
   * is handed addresses (GoBGP) neither adds nor withdraws any, so a restarted agent leaves the paths of the
   * still running daemon alone. services names the Services behind each address (spec.bgp.advertisements
   * select them by labels and ServiceGroup); without it every address gets the config-wide attributes. */
  setVirtualAddresses(cidrs: string[], kubeInterface?: string, services?: AddressServices): void;
  stop(): Promise<void>;
}

export interface RoutingReconcilerOptions {
  cluster: RoutingClusterPort;
  openDaemon: OpenDaemon;
  /** install namespace (for messages: the port is bound to it) */
  namespace: string;
  nodeName: string;
  nodeIP: string;
  log: Logger;
  /** interface holding the virtual addresses (default kube-lb0) */
  kubeInterface?: string;
  /** re-read Node labels and Secrets this often (default 30 s) */
  resyncMs?: number;
  /** refresh sessions/advertised prefixes in status this often (default 10 s) */
  statusIntervalMs?: number;
  timers?: Timers;
  /** retry delays of a failed apply, a failed Node read and a failed address hand-over (default 1 s doubling to 60 s) */
  backoff?: Backoff;
  /** sessions and reload outcomes as Prometheus metrics (the agent's registry) */
  metrics?: RoutingMetrics;
  /** After each outcome: a short reason while the last reload is Rejected or Failed (the daemon runs an
   * older config), undefined when Applied or no RouterConfig selects the node. Called also when unchanged. */
  onRoutingRejected?: (reason: string | undefined) => void;
}

/** Warning event reasons per failed outcome. */
const PROBLEM_REASONS = { Rejected: 'RoutingConfigRejected', Failed: 'RoutingReloadFailed' } as const;
/** Retry keys besides the RouterConfig's own (which is `routerconfig <ns>/<name>`). */
const NODE_KEY = 'node labels';
/** a reconcile that threw (a bug: every step catches what it expects) */
const RECONCILE_KEY = 'reconcile';
const ADDRESSES_KEY = 'daemon addresses';

/** The RouterConfig this node follows, as of the last reconcile. */
interface Selected {
  object: RouterConfig;
  name: string;
  /** spec.daemon and spec.protocol as written (also when invalid), for status */
  daemon: string;
  protocol: string;
  generation?: number;
}

export class RoutingReconciler implements RoutingController {
  readonly #cluster: RoutingClusterPort;
  readonly #openDaemon: OpenDaemon;
  readonly #opts: RoutingReconcilerOptions;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #backoff: Backoff;
  /** reconciles and status writes run one at a time */
  readonly #queue = new PQueue({ concurrency: 1 });
  /** last seen generation per RouterConfig: a metadata-only update (labels, annotations) needs no reconcile */
  readonly #generations = new Map<string, number | undefined>();
  readonly #retries = new Map<string, Cancel>();
  #periodic: Cancel[] = [];
  #reconcileQueued = false;
  #queuedRun: Promise<void> = Promise.resolve();
  #stopped = false;

  /** undefined until the agent reported them once */
  #addresses: string[] | undefined;
  #services: AddressServices = {};
  /** the valid RouterConfig spec last handed to the daemon */
  #appliedConfig: RouterConfigSpec | undefined;
  #kubeInterface: string;
  #labels: Record<string, string> = {};
  /** the Node's uid as last read: the owner of its NodeRoutingStatus */
  #nodeUID: string | undefined;
  #daemon: RouteAdvertiser | undefined;
  #selected: Selected | undefined;
  /** the last result that named a running config (its hash) */
  #applied: ApplyResult | undefined;
  #lastReload: NodeRoutingStatus['lastReload'];
  #daemonStatus: DaemonStatus | undefined;
  #daemonError: string | undefined;
  /** the status last written successfully, and the Node uid it named as owner */
  #written: { status: NodeRoutingStatus; nodeUID: string | undefined } | undefined;
  /** false once this node's NodeRoutingStatus is known not to exist (a previous run may have left one) */
  #statusMayExist = true;

  constructor(opts: RoutingReconcilerOptions) {
    this.#opts = opts;
    this.#cluster = opts.cluster;
    this.#openDaemon = opts.openDaemon;
    this.#log = opts.log;
    this.#timers = opts.timers ?? realTimers;
    this.#backoff = opts.backoff ?? new Backoff({ baseMs: 1000, capMs: 60_000 });
    this.#kubeInterface = opts.kubeInterface ?? 'kube-lb0';
  }

  /** Waits for the RouterConfig list, reconciles once, then keeps reconciling on changes and resyncs. */
  async start(): Promise<void> {
    this.#cluster.onRouterConfigChange((obj, kind) => this.#onConfigChange(obj, kind));
    await this.#cluster.synced;
    await this.trigger();
    if (this.#stopped) return; // stopped while the first list or reconcile ran
    this.#periodic = [
      this.#timers.every(this.#opts.resyncMs ?? 30_000, () => void this.trigger()),
      this.#timers.every(this.#opts.statusIntervalMs ?? 10_000, () => void this.refreshStatus()),
    ];
  }

  setVirtualAddresses(cidrs: string[], kubeInterface?: string, services: AddressServices = {}): void {
    if (this.#stopped) return;
    this.#addresses = [...cidrs];
    const bgp = this.#appliedConfig?.bgp;
    // BIRD/FRR configs list the prefixes of each advertisement: a Service whose labels or address moved it
    // to another entry re-renders (routes whose attributes stay are not re-sent: see docs/routing.md)
    const regroup = advertisementsKey(bgp, services) !== advertisementsKey(bgp, this.#services);
    this.#services = services;
    // the LBNodeAgent may rename extlbint: BIRD/FRR filters name it, so a new name re-renders
    const rename = !!kubeInterface && kubeInterface !== this.#kubeInterface;
    if (rename) this.#kubeInterface = kubeInterface;
    if (rename || regroup) void this.trigger();
    void this.#handAddresses();
  }

  /** Queues one reconcile unless one is queued already; resolves when that one finished.
   * The queue also carries the periodic status writes: a queued status write must not swallow a trigger
   * (an extlbint rename would then wait for the next resync), so pending reconciles are tracked apart.
   * (p-queue may start the task inside add(): the flag is set before and cleared by the task itself.) */
  trigger(): Promise<void> {
    if (this.#reconcileQueued) return this.#queuedRun;
    this.#reconcileQueued = true;
    this.#queuedRun = this.#queue
      .add(async () => {
        this.#reconcileQueued = false;
        await this.#reconcile();
        this.#succeeded(RECONCILE_KEY);
      })
      .catch((err: unknown) => {
        this.#log.error('routing reconcile failed', { error: err });
        this.#retryLater(RECONCILE_KEY, () => void this.trigger());
      });
    return this.#queuedRun;
  }

  /** Re-reads the daemon's sessions and prefixes and writes them to status if they changed. */
  refreshStatus(): Promise<void> {
    return this.#queue
      .add(() => (this.#stopped ? undefined : this.#report(true)))
      .catch((err: unknown) => this.#log.warn('routing status refresh failed', { error: err }));
  }

  /** Resolves when no reconcile or status write is queued or running. */
  idle(): Promise<void> {
    return this.#queue.onIdle();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const cancel of [...this.#periodic, ...this.#retries.values()]) cancel();
    this.#retries.clear();
    await this.#cluster.stop();
    await this.idle(); // a reconcile or status write in flight completes; nothing starts after it
    await this.#cluster.events.flush();
    await this.#daemon?.close();
  }

  #onConfigChange(obj: RouterConfig | undefined, kind: ConfigChange): void {
    const name = obj?.metadata?.name ?? '';
    if (kind === 'update' && this.#generations.get(name) === obj?.metadata?.generation) return;
    if (obj) this.#generations.set(name, obj.metadata?.generation);
    void this.trigger();
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    await this.#readNode();
    const chosen = this.#decide();
    if (!chosen) {
      await this.#deleteStatus();
      return this.#forgetSelection();
    }
    const selected = this.#select(chosen);
    const { config, problems } = parseRouterConfig(chosen);
    const result = config ? await this.#apply(config) : this.#reject(selected, problems);
    this.#announce(selected, result);
    await this.#report(result.result === 'Applied');
  }

  // --- read -------------------------------------------------------------------------------------------

  async #readNode(): Promise<void> {
    try {
      const { labels, uid } = await this.#cluster.readNode();
      this.#labels = labels;
      this.#nodeUID = uid;
      this.#succeeded(NODE_KEY);
    } catch (err) {
      this.#log.warn('could not read Node labels; using the last known ones', { error: err });
      this.#retryLater(NODE_KEY, () => void this.trigger());
    }
  }

  // --- decide -----------------------------------------------------------------------------------------

  #decide(): RouterConfig | undefined {
    return selectRouterConfig(this.#cluster.listRouterConfigs(), this.#labels);
  }

  /** No RouterConfig selects this node: its NodeRoutingStatus goes (a failed delete is retried by the next
   * resync). A node that moves to another RouterConfig keeps its object: the next report rewrites it. */
  async #deleteStatus(): Promise<void> {
    if (!this.#statusMayExist) return;
    try {
      await this.#cluster.deleteNodeStatus();
      this.#written = undefined;
      this.#statusMayExist = false;
    } catch (err) {
      this.#log.warn('could not delete the routing status of this node', { error: err });
    }
  }

  #forgetSelection(): void {
    if (!this.#selected) return;
    this.#log.info('no RouterConfig selects this node any more; the daemon keeps its last config');
    this.#opts.metrics?.clear();
    this.#succeeded(this.#retryKey(this.#selected.name));
    this.#selected = undefined;
    this.#opts.onRoutingRejected?.(undefined);
  }

  #select(chosen: RouterConfig): Selected {
    const name = chosen.metadata!.name!;
    if (this.#selected?.name !== name) {
      this.#lastReload = undefined;
      if (this.#selected) this.#succeeded(this.#retryKey(this.#selected.name));
    }
    const spec = (chosen.spec ?? {}) as { daemon?: unknown; protocol?: unknown };
    this.#selected = {
      object: chosen,
      name,
      daemon: typeof spec.daemon === 'string' ? spec.daemon : '',
      protocol: typeof spec.protocol === 'string' ? spec.protocol : '',
      ...(chosen.metadata?.generation !== undefined ? { generation: chosen.metadata.generation } : {}),
    };
    return this.#selected;
  }

  // --- plan -------------------------------------------------------------------------------------------

  #reject(selected: Selected, problems: Problem[]): ApplyResult {
    const error = problems.map(formatProblem).join('; ');
    this.#log.warn('RouterConfig is invalid; the running config is kept', {
      routerConfig: `${this.#opts.namespace}/${selected.name}`,
      error,
    });
    return { result: 'Rejected', error };
  }

  // --- apply ------------------------------------------------------------------------------------------

  async #apply(config: RouterConfigSpec): Promise<ApplyResult> {
    let result: ApplyResult;
    try {
      const passwords = await this.#passwords(config);
      const daemon = await this.#daemonFor(config.daemon);
      this.#appliedConfig = config;
      result = await daemon.apply({
        config,
        nodeName: this.#opts.nodeName,
        nodeIP: this.#opts.nodeIP,
        kubeInterface: this.#kubeInterface,
        passwords,
        services: this.#services,
      });
    } catch (err) {
      const hash = this.#applied?.hash;
      result = { result: 'Failed', error: errorText(err), ...(hash ? { hash } : {}) };
    }
    if (result.hash) this.#applied = result;
    return result;
  }

  async #passwords(config: RouterConfigSpec): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const p of config.bgp?.peers ?? []) {
      if (!p.passwordSecretRef) continue;
      const { name, key } = p.passwordSecretRef;
      const value = await this.#cluster.readSecretKey(name, key);
      if (value === undefined)
        throw new Error(
          `Secret ${this.#opts.namespace}/${name} has no key "${key}" (peer ${p.address}); add it or set passwordSecretRef.key`,
        );
      out[p.address] = value;
    }
    return out;
  }

  /** The advertiser for spec.daemon: a change of daemon closes the old one and hands the new one the addresses. */
  async #daemonFor(kind: Daemon): Promise<RouteAdvertiser> {
    if (this.#daemon?.daemon === kind) return this.#daemon;
    await this.#daemon?.close();
    this.#daemon = this.#openDaemon(kind);
    this.#applied = undefined;
    this.#daemonStatus = undefined;
    await this.#handAddresses();
    return this.#daemon;
  }

  /** Hands the daemon the latest addresses; a failure is retried with backoff (never thrown). */
  async #handAddresses(): Promise<void> {
    const daemon = this.#daemon;
    const addresses = this.#addresses;
    if (!daemon || !addresses || this.#stopped) return;
    try {
      await daemon.setAddresses(addresses, this.#services);
      this.#succeeded(ADDRESSES_KEY);
    } catch (err) {
      this.#log.warn('could not hand addresses to the routing daemon', { daemon: daemon.daemon, error: err });
      this.#retryLater(ADDRESSES_KEY, () => void this.#handAddresses());
    }
  }

  // --- announce ---------------------------------------------------------------------------------------

  /** Log, events (they name this node: one RouterConfig serves many nodes) and lastReload for an outcome;
   * a Failed apply is retried with backoff, any other outcome ends the retries. */
  #announce(selected: Selected, result: ApplyResult): void {
    const { events } = this.#cluster;
    if (result.result !== 'Unchanged')
      this.#log.info('routing config reconciled', {
        routerConfig: `${this.#opts.namespace}/${selected.name}`,
        result: result.result,
        error: result.error,
      });
    if (result.result === 'Applied') events.reset(selected.object, Object.values(PROBLEM_REASONS));
    if (reloadRejected(result.result)) {
      const note = `node ${this.#opts.nodeName}: ${result.error ?? ''}; the previous routing config keeps running`;
      events.emit(selected.object, 'Warning', PROBLEM_REASONS[result.result], note);
    }
    this.#opts.metrics?.countReload(selected.daemon, result.result);
    this.#lastReload = nextLastReload(this.#lastReload, result, new Date());
    const last = this.#lastReload?.result;
    this.#opts.onRoutingRejected?.(
      reloadRejected(last) ? `RouterConfig ${this.#opts.namespace}/${selected.name}: ${last}` : undefined,
    );
    const key = this.#retryKey(selected.name);
    if (result.result === 'Failed') this.#retryLater(key, () => void this.trigger());
    else this.#succeeded(key);
  }

  // --- report -----------------------------------------------------------------------------------------

  /** Writes this node's NodeRoutingStatus if it differs from the one written last (apart from its time), or
   * if the Node's uid changed (a Node deleted and created again took the old object with it). */
  async #report(refreshDaemon: boolean): Promise<void> {
    const selected = this.#selected;
    if (!selected) return;
    if (this.#daemon && (refreshDaemon || !this.#daemonStatus)) await this.#readDaemonStatus(this.#daemon);
    const status = buildNodeStatus({
      routerConfig: selected.name,
      daemon: selected.daemon,
      protocol: selected.protocol,
      generation: selected.generation,
      ...(this.#applied ? { applied: this.#applied } : {}),
      ...(this.#lastReload ? { lastReload: this.#lastReload } : {}),
      ...(this.#daemonStatus ? { daemonStatus: this.#daemonStatus } : {}),
      ...(this.#daemonError ? { daemonError: this.#daemonError } : {}),
      now: new Date(),
    });
    this.#opts.metrics?.observeStatus(selected.name, status);
    const nodeUID = this.#nodeUID;
    const written = this.#written;
    if (written?.nodeUID === nodeUID && sameStatus(written?.status, status)) return;
    try {
      this.#statusMayExist = true; // also when the write fails: it may have been stored
      await this.#cluster.writeNodeStatus(status, nodeUID);
      this.#written = { status, nodeUID };
    } catch (err) {
      // not retried apart: the next status refresh writes it, as the written entry did not change
      this.#log.warn('could not write routing status', {
        routerConfig: `${this.#opts.namespace}/${selected.name}`,
        error: err,
      });
    }
  }

  async #readDaemonStatus(daemon: RouteAdvertiser): Promise<void> {
    try {
      this.#daemonStatus = await daemon.status();
      this.#daemonError = undefined;
    } catch (err) {
      // a dead daemon must not keep reporting its last sessions as Established
      this.#daemonStatus = undefined;
      this.#daemonError = `${daemon.daemon} did not answer: ${errorText(err)}`;
      this.#log.debug('daemon status not available', { error: err });
    }
  }

  // --- retries ----------------------------------------------------------------------------------------

  #retryKey(name: string): string {
    return `routerconfig ${this.#opts.namespace}/${name}`;
  }

  /** Runs fn after the key's next backoff delay; a retry already pending for the key is replaced. */
  #retryLater(key: string, fn: () => void): void {
    if (this.#stopped) return;
    this.#retries.get(key)?.();
    const delay = this.#backoff.next(key);
    this.#log.debug('retrying later', { key, delayMs: delay });
    this.#retries.set(
      key,
      this.#timers.after(delay, () => {
        this.#retries.delete(key);
        fn();
      }),
    );
  }

  #succeeded(key: string): void {
    this.#backoff.reset(key);
    this.#retries.get(key)?.();
    this.#retries.delete(key);
  }
}
