// The node agent: wires the real ports (watch caches and API writes, `ip`, the heartbeat Lease, the
// ownership file, GARP/NA) to the controller (./controller.ts), which holds the logic.
import type { KubeClient } from '../k8s/rest.ts';
import { AGENT_COMPONENT } from '../api/names.ts';
import type { Logger } from '../log.ts';
import { startAnnouncer, type AnnounceHelper, type Announcer } from './announce.ts';
import { watchAgentCluster } from './cluster.ts';
import { AgentController } from './controller.ts';
import { startHeartbeat } from './heartbeat.ts';
import { iproute2, type NetworkAdapter } from './iproute.ts';
import type { AgentMetrics } from './metrics.ts';
import type { OutOfServiceCause } from './out-of-service.ts';
import { startOwnerProbe } from './owner-probe.ts';
import { loadOwnership } from './ownership.ts';
import type { AddressServices } from '../routing/attributes.ts';

export const EVENT_COMPONENT = AGENT_COMPONENT;

export interface AgentOptions {
  kc: KubeClient;
  /** Install namespace: LBNodeAgent, ServiceGroups and heartbeat Leases live here. */
  namespace: string;
  node: string;
  /** Name of the LBNodeAgent object to follow. */
  configName: string;
  /** Link kind used to create the virtual interface when missing (dummy; ifb where dummy is unavailable). */
  linkKind: string;
  renewMs: number;
  durationS: number;
  /** Full reconcile even without events (interface changes made by others). */
  resyncMs: number;
  /** Valid lifetime of local addresses in seconds, renewed every third of it (./renewal.ts): an address
   * left by a dead agent expires. 0 = permanent. */
  localLifetimeS: number;
  /** On SIGTERM keep the addresses and the heartbeat Lease valid this long for the next agent on the
   * node; 0 = hand local addresses over at once. */
  restartGraceS: number;
  stateFile: string;
  log: Logger;
  metrics: AgentMetrics;
  net?: NetworkAdapter;
  announce?: Announcer;
  /** Called after every reconcile with the virtual addresses as placed and the Services behind each
   * (routing integration: per-Service BGP attributes). */
  onVirtualAddresses?: (cidrs: string[], extlbint: string, services: AddressServices) => void;
  /** What takes this node out of service (default: cordoned and the exclude label); empty = never. */
  outOfServiceCauses?: ReadonlySet<OutOfServiceCause>;
  /** LAN probes between owners and successors (./owner-probe.ts); absent = off, takeovers wait for Lease expiry. */
  probe?: {
    /** The health server's port and the families it listens on, published for the peers (undefined: not
     * reachable on the LAN). */
    endpoint: { port: number; families: ReadonlyArray<4 | 6> } | undefined;
    intervalMs: number;
    deadAfterMs: number;
  };
}

export interface Agent {
  ready(): true | string;
  healthy(): true | string;
  /** The LAN probe's answer (PROBE_PATH): true while this node is a candidate for local addresses. */
  candidate(): true | string;
  /** An owner's released hint (RELEASED_HINT_PATH): probe it now if this node is its successor. */
  probeNow(owner: string): boolean;
  /** The routing side's state (RoutingReconcilerOptions.onRoutingRejected): published on the heartbeat Lease,
   * where the allocator's NoEligibleNode report reads it (no election rule: nothing here changes). */
  setRoutingRejected(reason: string | undefined): void;
  /** Graceful shutdown: withdraw local addresses, delete the heartbeat Lease, stop. Virtual addresses stay (unless out of service). */
  stop(): Promise<void>;
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { kc, namespace, node, log, metrics } = opts;
  const ownership = await loadOwnership(opts.stateFile);
  const cluster = watchAgentCluster({ kc, namespace, node, configName: opts.configName, log });
  // the heartbeat reports fencing to the controller, which is built with the heartbeat as a port
  const hooks: { controller?: AgentController } = {};
  const heartbeat = startHeartbeat({
    kc,
    namespace,
    node,
    renewMs: opts.renewMs,
    durationS: opts.durationS,
    log,
    onLiveChange: (live) => hooks.controller?.liveChanged(live),
    onRenewFailure: () => metrics.heartbeatFailures.inc(),
  });
  // started now: its start-up is then never on a takeover's path
  const helper: AnnounceHelper = opts.announce ? { announce: opts.announce, stop: () => {} } : startAnnouncer(log);
  const probe =
    opts.probe &&
    startOwnerProbe({
      intervalMs: opts.probe.intervalMs,
      deadAfterMs: opts.probe.deadAfterMs,
      onDead: (owner, cause) => hooks.controller?.ownerUnreachable(owner, cause),
      onBack: (owner) => hooks.controller?.ownerAnswers(owner),
      log,
    });
  const controller = new AgentController(
    {
      node,
      namespace,
      configName: opts.configName,
      linkKind: opts.linkKind,
      localLifetimeS: opts.localLifetimeS,
      restartGraceS: opts.restartGraceS,
      ...(opts.outOfServiceCauses ? { outOfServiceCauses: opts.outOfServiceCauses } : {}),
      ...(opts.onVirtualAddresses ? { onVirtualAddresses: opts.onVirtualAddresses } : {}),
      ...(opts.probe?.endpoint
        ? { probeEndpoint: { ...opts.probe.endpoint, releasedAnswerMs: opts.probe.deadAfterMs } }
        : {}),
      log,
      metrics,
    },
    {
      cluster,
      net: opts.net ?? iproute2,
      heartbeat,
      ownership,
      announce: helper.announce,
      ...(probe ? { probe } : {}),
    },
  );
  hooks.controller = controller;
  await controller.start(opts.resyncMs);
  return {
    ready: () => controller.ready(),
    healthy: () => controller.healthy(),
    candidate: () => controller.candidate(),
    probeNow: (owner) => probe?.probeNow(owner) ?? false,
    setRoutingRejected: (reason) => heartbeat.setRoutingRejected(reason),
    stop: async () => {
      await controller.stop();
      helper.stop();
    },
  };
}
