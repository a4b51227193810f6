// `purelb allocator`: the cluster-wide IPAM process. Runs as 2 replicas; the Lease `purelb-allocator`
// in the install namespace picks the one that allocates, the other keeps warm caches and takes over.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_LB_CLASS, DEFAULT_NAMESPACE } from '../api/annotations.ts';
import { createAllocatorController } from '../allocator/controller.ts';
import { createAllocatorMetrics } from '../allocator/metrics.ts';
import { startHealthServer } from '../k8s/health-server.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { KubeClient } from '../k8s/rest.ts';
import { startLeaderElection, timingProblem } from '../k8s/leader-election.ts';
import { errorText, createLogger } from '../log.ts';
import type { Command } from './main.ts';
import { componentOptions, parseDuration } from './options.ts';

export const LEASE_NAME = 'purelb-allocator';

const HELP = `Usage: purelb allocator [options]

Allocates addresses to Services of type LoadBalancer from ServiceGroup pools.

  --kubeconfig PATH        kubeconfig (default: $KUBECONFIG, else in-cluster)
  --namespace NS           install namespace: ServiceGroups and the leader Lease (default: $PURELB_NAMESPACE or ${DEFAULT_NAMESPACE})
  --lb-class CLASS         spec.loadBalancerClass handled besides unset (default ${DEFAULT_LB_CLASS})
  --health-port N          /healthz /readyz /metrics port (default 7472; 0 = any free port)
  --health-host HOST       address the health server binds (default 0.0.0.0)
  --service-namespace NS   watch the Services of one namespace only (default: all)
  --identity ID            leader election identity (default: $POD_NAME, else hostname-pid)
  --lease-duration D       how long a leader's lease lasts without renewal: 15, 15s, 1500ms (default 15s)
  --renew-deadline D       how long a leader keeps trying to renew before it steps down (default 10s)
  --retry-period D         time between lease attempts (default 2s)
  --leader-elect BOOL      elect a leader (default true); false allocates at once (one replica only!)
`;

/** The options run() parses; shell completion offers the same ones. */
const OPTIONS = {
  ...componentOptions(7472),
  'lb-class': { type: 'string', default: DEFAULT_LB_CLASS },
  'service-namespace': { type: 'string' },
  identity: { type: 'string', default: process.env.POD_NAME ?? `${hostname()}-${process.pid}` },
  'lease-duration': { type: 'string', default: '15' },
  'renew-deadline': { type: 'string', default: '10' },
  'retry-period': { type: 'string', default: '2' },
  'leader-elect': { type: 'string', default: 'true' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const command: Command = {
  options: OPTIONS,
  summary: 'Run the allocator (IPAM for Services of type LoadBalancer, leader-elected)',
  // eslint-disable-next-line max-lines-per-function -- wiring in start-up order: flags, leader election, controller, health, shutdown
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: OPTIONS,
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const timings = {
      leaseDurationSec: parseDuration(values['lease-duration'], 'lease-duration') / 1000,
      renewDeadlineSec: parseDuration(values['renew-deadline'], 'renew-deadline') / 1000,
      retryPeriodSec: parseDuration(values['retry-period'], 'retry-period') / 1000,
    };
    const problem = [timings.leaseDurationSec, timings.renewDeadlineSec, timings.retryPeriodSec].some((v) => v <= 0)
      ? 'the durations must be positive'
      : timingProblem(timings.leaseDurationSec, timings.renewDeadlineSec, timings.retryPeriodSec);
    if (problem) {
      console.error(`purelb allocator: --lease-duration/--renew-deadline/--retry-period: ${problem}`);
      return 2;
    }
    const log = createLogger('allocator', { identity: values.identity });
    const kc = new KubeClient(loadKubeConfig(values.kubeconfig));
    const metrics = createAllocatorMetrics();
    const controller = createAllocatorController({
      kc,
      namespace: values.namespace,
      lbClass: values['lb-class'],
      log,
      metrics,
      ...(values['service-namespace'] ? { serviceNamespace: values['service-namespace'] } : {}),
    });
    let fatal: string | undefined;
    const onStartedLeading = () =>
      controller.startLeading().catch((err: unknown) => {
        fatal = `could not start leading: ${errorText(err)}`;
        log.error(fatal);
        process.kill(process.pid, 'SIGTERM');
      });
    const elector =
      values['leader-elect'] === 'false'
        ? undefined
        : startLeaderElection({
            kc,
            namespace: values.namespace,
            name: LEASE_NAME,
            identity: values.identity,
            log,
            ...timings,
            onStartedLeading,
            onStoppedLeading: () => controller.stopLeading(),
          });
    if (!elector) void controller.synced.then(onStartedLeading);
    const { server, port } = await startHealthServer(
      values['health-host'],
      Number(values['health-port']),
      {
        healthy: () => fatal ?? true,
        ready: () => (controller.isSynced() ? true : 'caches not synced'),
      },
      metrics.registry,
    );
    log.info('allocator started', { namespace: values.namespace, lbClass: values['lb-class'], healthPort: port });

    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    log.info('shutting down');
    await elector?.stop();
    await controller.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return fatal ? 1 : 0;
  },
};
