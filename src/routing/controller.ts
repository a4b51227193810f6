// Starts the node agent's routing side: the RoutingReconciler (reconciler.ts) wired to the Kubernetes
// API (cluster-port.ts) and to the BIRD, FRR or GoBGP backend that a RouterConfig names. With no
// RouterConfig selecting the node it does nothing; an invalid or rejected RouterConfig leaves the
// running daemon config untouched.
import type { KubeClient } from '../k8s/rest.ts';
import type { Daemon } from '../api/validate-routerconfig.ts';
import type { Logger } from '../log.ts';
import type { RouteAdvertiser } from './advertiser.ts';
import { createRoutingClusterPort } from './cluster-port.ts';
import type { RoutingMetrics } from './metrics.ts';
import { RoutingReconciler, type RoutingController } from './reconciler.ts';

export type { RoutingController } from './reconciler.ts';

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
  kc: KubeClient;
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
  /** see RoutingReconcilerOptions.onRoutingRejected */
  onRoutingRejected?: (reason: string | undefined) => void;
}

/** The daemon's advertiser, its module loaded on first use (see lazyAdvertiser). */
export function createAdvertiser(daemon: Daemon, paths: RoutingBackendPaths, log: Logger): RouteAdvertiser {
  switch (daemon) {
    case 'bird':
      return lazyAdvertiser(daemon, async () => {
        const { BirdAdvertiser } = await import('./bird/advertiser.ts');
        return new BirdAdvertiser({ configDir: paths.birdConfigDir, socketPath: paths.birdSocket, log });
      });
    case 'frr':
      return lazyAdvertiser(daemon, async () => {
        const { FrrAdvertiser } = await import('./frr/advertiser.ts');
        return new FrrAdvertiser({
          confDir: paths.frrConfDir,
          ...(paths.frrVtySocket ? { vtySocket: paths.frrVtySocket } : {}),
          log,
        });
      });
    case 'gobgp':
      return lazyAdvertiser(daemon, async () => {
        const { GobgpAdvertiser } = await import('./gobgp/advertiser.ts');
        return new GobgpAdvertiser({ target: paths.gobgpTarget, log });
      });
  }
}

/** An advertiser whose module is loaded on first use, so an agent loads only the backend a RouterConfig
 * names: GoBGP's gRPC stack (@grpc/grpc-js, proto-loader, protobufjs) and the BIRD/FRR renderer
 * (Handlebars) cost RSS on every node otherwise (BENCHMARKS.md, "Where the memory goes"). */
function lazyAdvertiser(daemon: Daemon, load: () => Promise<RouteAdvertiser>): RouteAdvertiser {
  let loaded: Promise<RouteAdvertiser> | undefined;
  const real = () => (loaded ??= load());
  return {
    daemon,
    apply: async (input) => (await real()).apply(input),
    setAddresses: async (cidrs, services) => (await real()).setAddresses(cidrs, services),
    status: async () => (await real()).status(),
    close: async () => {
      if (loaded) await (await loaded).close();
    },
  };
}

export async function startRoutingController(opts: RoutingControllerOptions): Promise<RoutingController> {
  const log = opts.log.child({ component: 'routing', node: opts.nodeName });
  const paths = { ...DEFAULT_BACKEND_PATHS, ...opts.paths };
  const controller = new RoutingReconciler({
    cluster: createRoutingClusterPort(opts.kc, opts.namespace, opts.nodeName, log),
    openDaemon: (daemon) => createAdvertiser(daemon, paths, log),
    namespace: opts.namespace,
    nodeName: opts.nodeName,
    nodeIP: opts.nodeIP,
    log,
    kubeInterface: opts.kubeInterface,
    resyncMs: opts.resyncMs,
    statusIntervalMs: opts.statusIntervalMs,
    metrics: opts.metrics,
    onRoutingRejected: opts.onRoutingRejected,
  });
  await controller.start();
  return controller;
}
