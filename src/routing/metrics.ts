// Prometheus metrics of the agent's routing side, in the agent's registry: what the routing status of
// the RouterConfig says per node (sessions, the outcome of the last reload), as numbers an alert can use.
import { reloadRejected } from '../model/eligibility.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReloadResult } from './advertiser.ts';
import type { NodeRoutingStatus } from './status.ts';

/** A BGP session is up when Established; an OSPF adjacency when Full (BIRD "Full/DR", FRR "Full/Backup"). */
export const sessionUp = (state: string): boolean => /^(established|full)\b/i.test(state);

export function createRoutingMetrics(registry: Registry) {
  const registers = [registry];
  const sessionUpGauge = new Gauge({
    name: 'purelb_routing_session_up',
    help: "1 while a routing session of this node's daemon is up (BGP Established, OSPF Full), else 0",
    labelNames: ['daemon', 'session'],
    registers,
  });
  const daemonReachable = new Gauge({
    name: 'purelb_routing_daemon_reachable',
    help: "1 while this node's routing daemon answers status queries, 0 while it does not",
    labelNames: ['daemon'],
    registers,
  });
  const configRejected = new Gauge({
    name: 'purelb_routing_config_rejected',
    help: '1 while the last reload of the RouterConfig that selects this node was rejected or failed (the previous config keeps running)',
    labelNames: ['daemon', 'routerconfig'],
    registers,
  });
  const reloads = new Counter({
    name: 'purelb_routing_reloads_total',
    help: 'Routing daemon reloads by result (Applied, Rejected, Failed); unchanged configs are not counted',
    labelNames: ['daemon', 'result'],
    registers,
  });
  return {
    /** One reload outcome of the daemon. */
    countReload(daemon: string, result: ReloadResult): void {
      if (result !== 'Unchanged') reloads.inc({ daemon, result });
    },
    /** The node's routing status as just computed: replaces every session and rejection series, so a
     * removed peer or another RouterConfig leaves no stale series behind. */
    observeStatus(routerConfig: string, status: NodeRoutingStatus): void {
      sessionUpGauge.reset();
      configRejected.reset();
      daemonReachable.reset();
      const daemon = status.daemon;
      daemonReachable.set({ daemon }, status.daemonError ? 0 : 1);
      for (const s of status.sessions) sessionUpGauge.set({ daemon, session: s.name }, sessionUp(s.state) ? 1 : 0);
      const last = status.lastReload?.result;
      configRejected.set({ daemon, routerconfig: routerConfig }, reloadRejected(last) ? 1 : 0);
    },
    /** No RouterConfig selects the node any more: it has no sessions to report. */
    clear(): void {
      sessionUpGauge.reset();
      configRejected.reset();
      daemonReachable.reset();
    },
  };
}

export type RoutingMetrics = ReturnType<typeof createRoutingMetrics>;
