// The node agent's routing side: watches RouterConfigs in the install namespace, picks the one that
// selects this node, resolves peer passwords from Secrets, has the matching backend apply it and
// writes this node's entry of the RouterConfig's status. With no RouterConfig selecting the node it
// does nothing; an invalid or rejected RouterConfig leaves the running daemon config untouched.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { formatProblem } from '../api/validation.ts';
import {
  parseRouterConfig,
  type Daemon,
  type RouterConfig,
  type RouterConfigSpec,
} from '../api/validate-routerconfig.ts';
import { createEventRecorder } from '../k8s/events.ts';
import { watchCache, type WatchedCache } from '../k8s/informer.ts';
import { mergePatch } from '../k8s/patch.ts';
import type { Logger } from '../log.ts';
import type { ApplyResult, DaemonStatus, RouteAdvertiser } from './advertiser.ts';
import { BirdAdvertiser } from './bird/advertiser.ts';
import type { RoutingMetrics } from './metrics.ts';
import { FrrAdvertiser } from './frr/advertiser.ts';
import { GobgpAdvertiser } from './gobgp/advertiser.ts';
import { selectRouterConfig } from './select.ts';
import { buildNodeStatus, replacingMergePatch, sameStatus, type NodeRoutingStatus } from './status.ts';

export interface RoutingBackendPaths {
  /** Directory shared with the BIRD container (bird.conf) and BIRD's control socket. */
  birdConfigDir: string;
  birdSocket: string;
  /** FRR config dir (frr.conf is rendered there) and vty socket dir. */
  frrConfDir: string;
  frrVtySocket?: string;
  /** gobgpd gRPC target. */
  gobgpTarget: string;
}

export const DEFAULT_BACKEND_PATHS: RoutingBackendPaths = {
  birdConfigDir: '/run/purelb/bird',
  birdSocket: '/run/purelb/bird/bird.ctl',
  frrConfDir: '/etc/frr',
  gobgpTarget: 'unix:///run/purelb/gobgp/gobgp.sock',
};

export interface RoutingControllerOptions {
  kc: KubeConfig;
  /** install namespace where RouterConfigs (and their password Secrets) live */
  namespace: string;
  nodeName: string;
  nodeIP: string;
  log: Logger;
  paths?: Partial<RoutingBackendPaths>;
  /** interface holding the virtual addresses (default kube-lb0) */
  kubeInterface?: string;
  /** re-read Node labels and Secrets this often (default 30 s) */
  resyncMs?: number;
  /** refresh sessions/advertised prefixes in status this often (default 10 s) */
  statusIntervalMs?: number;
  /** sessions and reload outcomes as Prometheus metrics (the agent's registry) */
  metrics?: RoutingMetrics;
}

export interface RoutingController {
  /** Desired virtual addresses of this node exactly as placed on kube-lb0, e.g. ["10.96.0.10/32","fd00:96::10/128"].
   * Call it only with a complete set (after the agent's caches synced): until the first call, a backend that
   * is handed addresses (GoBGP) neither adds nor withdraws any, so a restarted agent leaves the paths of the
   * still running daemon alone. */
  setVirtualAddresses(cidrs: string[], kubeInterface?: string): void;
  stop(): Promise<void>;
}

const GROUP = 'purelb.io';
const VERSION = 'v1';
const PLURAL = 'routerconfigs';

export function createAdvertiser(daemon: Daemon, paths: RoutingBackendPaths, log: Logger): RouteAdvertiser {
  switch (daemon) {
    case 'bird':
      return new BirdAdvertiser({ configDir: paths.birdConfigDir, socketPath: paths.birdSocket, log });
    case 'frr':
      return new FrrAdvertiser({
        confDir: paths.frrConfDir,
        ...(paths.frrVtySocket ? { vtySocket: paths.frrVtySocket } : {}),
        log,
      });
    case 'gobgp':
      return new GobgpAdvertiser({ target: paths.gobgpTarget, log });
  }
}

export async function startRoutingController(opts: RoutingControllerOptions): Promise<RoutingController> {
  const log = opts.log.child({ component: 'routing', node: opts.nodeName });
  const paths = { ...DEFAULT_BACKEND_PATHS, ...opts.paths };
  const custom = opts.kc.makeApiClient(CustomObjectsApi);
  const core = opts.kc.makeApiClient(CoreV1Api);
  const ns = opts.namespace;
  const queue = new PQueue({ concurrency: 1 });
  const events = createEventRecorder(opts.kc, 'purelb-lbnodeagent', log);
  const PROBLEM_REASONS = ['RoutingConfigRejected', 'RoutingReloadFailed'];
  let advertiser: RouteAdvertiser | undefined;
  /** undefined until the agent reported them once */
  let addresses: string[] | undefined;
  let labels: Record<string, string> = {};
  let current: { name: string; generation?: number; config?: RouterConfigSpec } | undefined;
  let applied: ApplyResult | undefined;
  let daemonStatus: DaemonStatus | undefined;
  let daemonError: string | undefined;
  let currentInterface = opts.kubeInterface ?? 'kube-lb0';
  let lastReload: NodeRoutingStatus['lastReload'];
  let written: { name: string; status: NodeRoutingStatus } | undefined;
  let stopped = false;

  const configs: WatchedCache<RouterConfig> = watchCache<RouterConfig>(
    opts.kc,
    `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
    () => custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL }) as never,
    log,
  );

  const patchStatus = async (name: string, entry: NodeRoutingStatus | null) => {
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name,
        body: { status: { nodes: { [opts.nodeName]: entry && replacingMergePatch(entry) } } },
      },
      mergePatch,
    );
  };

  const writeStatus = async (refreshDaemon: boolean) => {
    if (!current) return;
    if (advertiser && (refreshDaemon || !daemonStatus)) {
      try {
        daemonStatus = await advertiser.status();
        daemonError = undefined;
      } catch (err) {
        // a dead daemon must not keep reporting its last sessions as Established
        daemonStatus = undefined;
        daemonError = `${advertiser.daemon} did not answer: ${String((err as Error)?.message ?? err)}`;
        log.debug('daemon status not available', { error: err });
      }
    }
    const spec = (configs.get(current.name, ns)?.spec ?? {}) as { daemon?: unknown; protocol?: unknown };
    const status = buildNodeStatus({
      daemon: String(spec.daemon ?? ''),
      protocol: String(spec.protocol ?? ''),
      generation: current.generation,
      ...(applied ? { applied } : {}),
      ...(lastReload ? { lastReload } : {}),
      ...(daemonStatus ? { daemonStatus } : {}),
      ...(daemonError ? { daemonError } : {}),
      now: new Date(),
    });
    opts.metrics?.observeStatus(current.name, status);
    if (written?.name === current.name && sameStatus(written.status, status)) return;
    try {
      await patchStatus(current.name, status);
      written = { name: current.name, status };
    } catch (err) {
      log.warn('could not write routing status', { routerConfig: `${ns}/${current.name}`, error: err });
    }
  };

  const passwordsFor = async (config: RouterConfigSpec): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const p of config.bgp?.peers ?? []) {
      if (!p.passwordSecretRef) continue;
      const { name, key } = p.passwordSecretRef;
      const secret = await core.readNamespacedSecret({ name, namespace: ns });
      const b64 = secret.data?.[key];
      if (b64 === undefined)
        throw new Error(
          `Secret ${ns}/${name} has no key "${key}" (peer ${p.address}); add it or set passwordSecretRef.key`,
        );
      out[p.address] = Buffer.from(b64, 'base64').toString('utf8');
    }
    return out;
  };

  const recordReload = (result: ApplyResult) => {
    // a repeated outcome keeps its first time, so an unchanged state writes no new status; Unchanged
    // does not hide a previous Applied, but it does replace a Rejected/Failed (the running config is
    // what is asked for again, e.g. after the bad edit was reverted)
    const repeated =
      lastReload?.result === result.result && (lastReload.error ?? '') === (result.error?.slice(0, 4000) ?? '');
    const recovered =
      result.result === 'Unchanged' && (lastReload?.result === 'Rejected' || lastReload?.result === 'Failed');
    if ((result.result !== 'Unchanged' && !repeated) || recovered || !lastReload) {
      lastReload = {
        time: new Date().toISOString(),
        result: result.result,
        ...(result.error ? { error: result.error.slice(0, 4000) } : {}),
      };
    }
  };

  const reconcile = async () => {
    if (stopped) return;
    try {
      labels = (await core.readNode({ name: opts.nodeName })).metadata?.labels ?? {};
    } catch (err) {
      log.warn('could not read Node labels; using the last known ones', { error: err });
    }
    const chosen = selectRouterConfig(configs.list(), labels);
    if (written && written.name !== chosen?.metadata?.name) {
      await patchStatus(written.name, null).catch((err) =>
        log.debug('could not clear old status entry', { error: err }),
      );
      written = undefined;
    }
    if (!chosen) {
      if (current) log.info('no RouterConfig selects this node any more; the daemon keeps its last config');
      current = undefined;
      opts.metrics?.clear();
      return;
    }
    const name = chosen.metadata!.name!;
    if (current?.name !== name) lastReload = undefined;
    const { config, problems } = parseRouterConfig(chosen);
    current = {
      name,
      ...(chosen.metadata?.generation !== undefined ? { generation: chosen.metadata.generation } : {}),
      ...(config ? { config } : {}),
    };
    // Warning events name this node (one object serves many nodes); the recorder drops repeats
    const report = (result: ApplyResult) => {
      if (result.result === 'Applied') events.reset(chosen, PROBLEM_REASONS);
      if (result.result === 'Rejected' || result.result === 'Failed') {
        events.emit(
          chosen,
          'Warning',
          PROBLEM_REASONS[result.result === 'Rejected' ? 0 : 1]!,
          `node ${opts.nodeName}: ${result.error ?? ''}; the previous routing config keeps running`,
        );
      }
      recordReload(result);
      opts.metrics?.countReload(String((chosen.spec as { daemon?: unknown } | undefined)?.daemon ?? ''), result.result);
    };
    if (!config) {
      const error = problems.map(formatProblem).join('; ');
      log.warn('RouterConfig is invalid; the running config is kept', { routerConfig: `${ns}/${name}`, error });
      report({ result: 'Rejected', error });
      return writeStatus(false);
    }
    let result: ApplyResult;
    try {
      const passwords = await passwordsFor(config);
      if (advertiser?.daemon !== config.daemon) {
        await advertiser?.close();
        advertiser = createAdvertiser(config.daemon, paths, log);
        applied = undefined;
        daemonStatus = undefined;
        if (addresses) await advertiser.setAddresses(addresses);
      }
      result = await advertiser.apply({
        config,
        nodeName: opts.nodeName,
        nodeIP: opts.nodeIP,
        kubeInterface: currentInterface,
        passwords,
      });
    } catch (err) {
      result = { result: 'Failed', error: (err as Error).message, ...(applied?.hash ? { hash: applied.hash } : {}) };
    }
    if (result.result !== 'Unchanged')
      log.info('routing config reconciled', {
        routerConfig: `${ns}/${name}`,
        result: result.result,
        error: result.error,
      });
    if (result.hash) applied = result;
    report(result);
    await writeStatus(result.result === 'Applied');
  };

  // Coalesces triggers into one queued reconcile, which reads the latest state when it starts. The
  // queue also carries the periodic status writes: a queued status write must not swallow a trigger
  // (an extlbint rename would then wait for the next resync), so pending reconciles are tracked apart.
  // (p-queue may start the task inside add(): the flag is set before and cleared by the task itself.)
  let queued = false;
  let queuedRun: Promise<void> = Promise.resolve();
  const trigger = (): Promise<void> => {
    if (queued) return queuedRun;
    queued = true;
    queuedRun = queue
      .add(async () => {
        queued = false;
        await reconcile();
      })
      .catch((err) => log.error('routing reconcile failed', { error: err }));
    return queuedRun;
  };

  // status writes of every node's agent update the object too: only spec changes (generation) matter
  const generations = new Map<string, number | undefined>();
  configs.onChange((obj, kind) => {
    const name = obj?.metadata?.name ?? '';
    if (kind === 'update' && generations.get(name) === obj?.metadata?.generation) return;
    if (obj) generations.set(name, obj.metadata?.generation);
    void trigger();
  });
  await configs.synced;
  await trigger();
  const resync = setInterval(() => void trigger(), opts.resyncMs ?? 30_000);
  const statusTimer = setInterval(
    () => void queue.add(() => writeStatus(true)).catch(() => undefined),
    opts.statusIntervalMs ?? 10_000,
  );

  return {
    setVirtualAddresses(cidrs, kubeInterface) {
      addresses = [...cidrs];
      // the LBNodeAgent may rename extlbint: BIRD/FRR filters name it, so a new name re-renders
      if (kubeInterface && kubeInterface !== currentInterface) {
        currentInterface = kubeInterface;
        void trigger();
      }
      if (advertiser)
        void advertiser
          .setAddresses(cidrs)
          .catch((err) => log.warn('could not hand addresses to the routing daemon', { error: err }));
    },
    async stop() {
      stopped = true;
      clearInterval(resync);
      clearInterval(statusTimer);
      await configs.stop();
      await queue.onIdle();
      await events.flush();
      await advertiser?.close();
    },
  };
}
