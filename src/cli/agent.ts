// `purelb agent`: the node agent (one per node, host network). Places local and virtual addresses,
// keeps the node's heartbeat Lease, and drives the routing daemon unless --routing=off.
import { parseArgs } from 'node:util';
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';
import type { Registry } from 'prom-client';
import { startAgent, type Agent } from '../agent/agent.ts';
import { createAgentMetrics } from '../agent/metrics.ts';
import { parseOutOfServiceCauses } from '../agent/out-of-service.ts';
import { startHealthServer, type HealthChecks } from '../k8s/health-server.ts';
import { PROBE_PATH, RELEASED_HINT_PATH } from '../model/heartbeat.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { KubeClient } from '../k8s/rest.ts';
import { createLogger, type Logger } from '../log.ts';
import { DEFAULT_BACKEND_PATHS, startRoutingController, type RoutingController } from '../routing/controller.ts';
import { createRoutingMetrics } from '../routing/metrics.ts';
import type { Command } from './main.ts';
import { UsageError, componentOptions, parseDuration } from './options.ts';
import type { AddressServices } from '../routing/attributes.ts';

const HELP = `Usage: purelb agent [options]

Puts the addresses of PureLB Services on this node: a local address on the LAN interface of the one
elected node (with gratuitous ARP / unsolicited NA), a virtual address on kube-lb0 of every eligible node.

  --kubeconfig PATH            kubeconfig (default: $KUBECONFIG, else in-cluster)
  --namespace NS               install namespace (default: $PURELB_NAMESPACE or ${DEFAULT_NAMESPACE})
  --node-name NAME             this node (default: $PURELB_NODE_NAME)
  --node-ip IP                 this node's address, router id for routing (default: $PURELB_HOST)
  --config NAME                LBNodeAgent to follow (default: default)
  --health-port N              /healthz /readyz /metrics, /candidate and /released (LAN probes) port (default 7473; 0 = any free port)
  --health-host HOST           address the health server binds (default 0.0.0.0)
  --kube-lb-kind KIND          link kind used to create the virtual interface (default dummy; ifb where dummy is missing)
  --heartbeat-renew D          heartbeat Lease renew period (default 10s)
  --heartbeat-duration D       heartbeat Lease duration, whole seconds (default 40s): how long a node that cannot
                               reach the apiserver keeps its local addresses, and the failover time after a crash
                               of a node whose agent is not probed (--owner-probe-interval 0)
  --owner-probe-interval D     the successor of a local address probes its owner's agent over the LAN this often,
                               on the health port (default 250ms; 0 = no probes, takeovers wait for Lease expiry)
  --owner-dead-after D         an owner whose probes are reset or answered 503 for this long is taken over
                               (default 1s); one whose probes are refused (no agent listens on its node), after
                               half of it; one whose probes only time out (busy or gone), after 3 times this
  --resync D                   full reconcile period without events (default 30s)
  --local-address-lifetime D   valid lifetime of local addresses, renewed every third of it while held: a killed
                               agent's addresses leave its node within it, +1s (default 9s; whole seconds, at least
                               3s; 0 = permanent)
  --restart-grace D            on SIGTERM keep the node's addresses and its heartbeat Lease valid this long, for
                               the agent that replaces this one (rolling update: nothing moves); 0 = hand the
                               local addresses over at once (default 30s; whole seconds). A drained node
                               (cordoned) has handed everything over before it stops anyway
  --state-file PATH            addresses this agent placed (default /run/purelb/agent-<node>.json; keep it on a hostPath)
  --out-of-service LIST        what takes this node out of service (no addresses, no heartbeat): cordoned,
                               exclude-label (node.kubernetes.io/exclude-from-external-load-balancers), or none
                               (default cordoned,exclude-label)
  --routing on|off             drive the routing daemon selected by a RouterConfig (default on)
  --bird-config-dir DIR        (default ${DEFAULT_BACKEND_PATHS.birdConfigDir})
  --bird-socket PATH           (default ${DEFAULT_BACKEND_PATHS.birdSocket})
  --frr-dir DIR                (default ${DEFAULT_BACKEND_PATHS.frrConfDir})
  --frr-vty-socket DIR         FRR vty socket directory (default: FRR's)
  --gobgp-socket PATH          gobgpd gRPC unix socket (default ${DEFAULT_BACKEND_PATHS.gobgpTarget.replace('unix://', '')})

Durations: "500ms", "2s", "1m" or plain seconds.
`;

/** The options run() parses; shell completion offers the same ones (and bench/scale.ts the defaults). */
export const OPTIONS = {
  ...componentOptions(7473),
  'node-name': { type: 'string', default: process.env.PURELB_NODE_NAME ?? '' },
  'node-ip': { type: 'string', default: process.env.PURELB_HOST ?? '' },
  config: { type: 'string', default: 'default' },
  'kube-lb-kind': { type: 'string', default: 'dummy' },
  'heartbeat-renew': { type: 'string', default: '10s' },
  'heartbeat-duration': { type: 'string', default: '40s' },
  'owner-probe-interval': { type: 'string', default: '250ms' },
  'owner-dead-after': { type: 'string', default: '1s' },
  resync: { type: 'string', default: '30s' },
  'local-address-lifetime': { type: 'string', default: '9s' },
  'restart-grace': { type: 'string', default: '30s' },
  'state-file': { type: 'string' },
  'out-of-service': { type: 'string', default: 'cordoned,exclude-label' },
  routing: { type: 'string', default: 'on' },
  'bird-config-dir': { type: 'string' },
  'bird-socket': { type: 'string' },
  'frr-dir': { type: 'string' },
  'frr-vty-socket': { type: 'string' },
  'gobgp-socket': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

/** The validated timings and settings, or a UsageError naming the flag and the fix. */
function agentSettings(values: Values) {
  const node = values['node-name'];
  if (!node)
    throw new UsageError(
      'the node name is missing: pass --node-name or set PURELB_NODE_NAME (downward API spec.nodeName)',
    );
  if (values.routing !== 'on' && values.routing !== 'off')
    throw new UsageError(`--routing must be "on" or "off", got "${values.routing}"`);
  const renewMs = parseDuration(values['heartbeat-renew'], 'heartbeat-renew');
  const durationMs = parseDuration(values['heartbeat-duration'], 'heartbeat-duration');
  if (durationMs % 1000 !== 0 || durationMs < 1000)
    throw new UsageError(
      `--heartbeat-duration must be whole seconds (the Lease field is an integer), got "${values['heartbeat-duration']}"`,
    );
  if (renewMs >= durationMs)
    throw new UsageError(
      `--heartbeat-renew (${renewMs} ms) must be shorter than --heartbeat-duration (${durationMs} ms)`,
    );
  const resyncMs = parseDuration(values.resync, 'resync');
  const probeIntervalMs = parseDuration(values['owner-probe-interval'], 'owner-probe-interval');
  const deadAfterMs = parseDuration(values['owner-dead-after'], 'owner-dead-after');
  if (probeIntervalMs > 0 && deadAfterMs < 2 * probeIntervalMs)
    throw new UsageError(
      `--owner-dead-after (${deadAfterMs} ms) must be at least twice --owner-probe-interval (${probeIntervalMs} ms): one lost probe must not move an address`,
    );
  const lifetimeMs = parseDuration(values['local-address-lifetime'], 'local-address-lifetime');
  const graceMs = parseDuration(values['restart-grace'], 'restart-grace');
  if (graceMs % 1000 !== 0)
    throw new UsageError(
      `--restart-grace must be whole seconds (the Lease field is an integer), got "${values['restart-grace']}"`,
    );
  if (lifetimeMs !== 0 && (lifetimeMs % 1000 !== 0 || lifetimeMs < 3000))
    throw new UsageError(
      `--local-address-lifetime must be whole seconds, at least 3s (the kernel's valid_lft is in seconds and the agent renews every third of it), or 0 for permanent; got "${values['local-address-lifetime']}"`,
    );
  const outOfServiceCauses = parseOutOfServiceCauses(values['out-of-service']);
  if (typeof outOfServiceCauses === 'string') throw new UsageError(outOfServiceCauses);
  if (values.routing === 'on' && !values['node-ip'])
    throw new UsageError(
      'the node IP is missing: pass --node-ip or set PURELB_HOST (downward API status.hostIP), or run with --routing=off',
    );
  return {
    node,
    renewMs,
    durationS: durationMs / 1000,
    resyncMs,
    probeIntervalMs,
    deadAfterMs,
    lifetimeS: lifetimeMs / 1000,
    graceS: graceMs / 1000,
    outOfServiceCauses,
  };
}

/** Peers reach the health server on the node's LAN addresses only when it listens on all of them, in
 * these families: 0.0.0.0 takes IPv4 connections only, :: both (Linux's default bindv6only=0). */
const LISTENS_ON_ALL: Partial<Record<string, ReadonlyArray<4 | 6>>> = { '0.0.0.0': [4], '::': [4, 6] };

/** The health server's answers: the agent's once it runs; the LAN probe paths too. */
const agentChecks = (started: { agent?: Agent }): HealthChecks => ({
  healthy: () => started.agent?.healthy() ?? true,
  ready: () => started.agent?.ready() ?? 'caches not synced',
  more: {
    [PROBE_PATH]: () => started.agent?.candidate() ?? 'starting',
    [RELEASED_HINT_PATH]: (q) => started.agent?.probeNow(q.get('owner') ?? '') || 'not a successor of that owner',
  },
});

/** The agent's LAN probe settings (none when --owner-probe-interval is 0). */
function probeOptions(settings: ReturnType<typeof agentSettings>, healthHost: string, port: number) {
  if (settings.probeIntervalMs <= 0) return {};
  const families = LISTENS_ON_ALL[healthHost];
  return {
    probe: {
      endpoint: families && { port, families },
      intervalMs: settings.probeIntervalMs,
      deadAfterMs: settings.deadAfterMs,
    },
  };
}

/**
 * Routing starts beside the agent, not before it: its RouterConfig watch must not hold up addresses.
 * The virtual addresses are handed over once both run (undefined until the agent's first reconcile:
 * an empty list would withdraw GoBGP's paths).
 */
function startRouting(
  values: Values,
  kc: KubeClient,
  node: string,
  log: Logger,
  registry: Registry,
  onRoutingRejected: (reason: string | undefined) => void,
) {
  let routing: RoutingController | undefined;
  let last: { cidrs: string[]; extlbint: string; services: AddressServices } | undefined;
  const started =
    values.routing !== 'on'
      ? Promise.resolve()
      : startRoutingController({
          kc,
          namespace: values.namespace,
          nodeName: node,
          nodeIP: values['node-ip'],
          log,
          metrics: createRoutingMetrics(registry),
          onRoutingRejected,
          paths: {
            ...(values['bird-config-dir'] ? { birdConfigDir: values['bird-config-dir'] } : {}),
            ...(values['bird-socket'] ? { birdSocket: values['bird-socket'] } : {}),
            ...(values['frr-dir'] ? { frrConfDir: values['frr-dir'] } : {}),
            ...(values['frr-vty-socket'] ? { frrVtySocket: values['frr-vty-socket'] } : {}),
            ...(values['gobgp-socket'] ? { gobgpTarget: `unix://${values['gobgp-socket']}` } : {}),
          },
        }).then(
          (r) => {
            routing = r;
            if (last) r.setVirtualAddresses(last.cidrs, last.extlbint, last.services);
          },
          (err: unknown) => log.error('routing controller failed to start; addresses are still placed', { error: err }),
        );
  return {
    setVirtualAddresses(cidrs: string[], extlbint: string, services: AddressServices) {
      last = { cidrs, extlbint, services };
      routing?.setVirtualAddresses(cidrs, extlbint, services);
    },
    /** Resolves with false when the controller still waits for its first RouterConfig list. */
    async stop(): Promise<boolean> {
      const up = await Promise.race([
        started.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 1000)),
      ]);
      await routing?.stop();
      return up;
    },
  };
}

export const command: Command = {
  options: OPTIONS,
  summary: 'Run the node agent (places local and virtual addresses, heartbeat election, routing)',
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: OPTIONS });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const settings = agentSettings(values);
    const { node } = settings;
    const log = createLogger('agent', { node });
    const kc = new KubeClient(loadKubeConfig(values.kubeconfig));
    const metrics = createAgentMetrics();
    // every series names its node, however it is scraped (the dashboard and alerts group by node)
    metrics.registry.setDefaultLabels({ node });
    const started: { agent?: Agent; routingRejected?: string } = {};
    // the routing side may report before the agent runs: kept here and handed over once it does
    const routing = startRouting(values, kc, node, log, metrics.registry, (reason) => {
      started.routingRejected = reason;
      started.agent?.setRoutingRejected(reason);
    });
    const { server, port } = await startHealthServer(
      values['health-host'],
      Number(values['health-port']),
      agentChecks(started),
      metrics.registry,
    );
    let stopRequested: () => void = () => {};
    const signalled = new Promise<void>((resolve) => (stopRequested = resolve));
    process.once('SIGTERM', stopRequested);
    process.once('SIGINT', stopRequested);
    const agent = await Promise.race([
      startAgent({
        kc,
        namespace: values.namespace,
        node,
        configName: values.config,
        linkKind: values['kube-lb-kind'],
        renewMs: settings.renewMs,
        durationS: settings.durationS,
        resyncMs: settings.resyncMs,
        localLifetimeS: settings.lifetimeS,
        restartGraceS: settings.graceS,
        stateFile: values['state-file'] ?? `/run/purelb/agent-${node}.json`,
        log,
        metrics,
        outOfServiceCauses: settings.outOfServiceCauses,
        ...probeOptions(settings, values['health-host'], port),
        onVirtualAddresses: (cidrs, iface, services) => routing.setVirtualAddresses(cidrs, iface, services),
      }),
      signalled.then(() => undefined),
    ]);
    started.agent = agent;
    if (!agent) {
      log.info('stopped during startup, before any change was made');
      process.exit(0); // the informers still starting would keep the process alive
    }
    agent.setRoutingRejected(started.routingRejected);
    log.info('agent started', { namespace: values.namespace, healthPort: port, routing: values.routing });
    await signalled;
    log.info('shutting down');
    await agent.stop();
    const routingUp = await routing.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    log.info('stopped');
    if (!routingUp) process.exit(0); // a routing controller still waiting for its first RouterConfig list keeps the process alive
    return 0;
  },
};
