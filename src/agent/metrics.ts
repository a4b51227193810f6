// Prometheus metrics of the node agent (one registry per agent process).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createAgentMetrics(registry = new Registry()) {
  return {
    registry,
    announced: new Gauge({
      name: 'purelb_agent_addresses_announced',
      help: 'Addresses this node currently announces, by kind (local, virtual)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    electionWins: new Counter({
      name: 'purelb_agent_election_wins_total',
      help: 'Local addresses this node started announcing after winning their election',
      registers: [registry],
    }),
    failovers: new Counter({
      name: 'purelb_agent_failovers_total',
      help: 'Local addresses this node took over from another announcing node',
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'purelb_agent_reconcile_duration_seconds',
      help: 'Duration of one reconcile (read kernel, decide, apply)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'purelb_agent_reconcile_errors_total',
      help: 'Reconciles that failed or left kernel changes unapplied, and failed local address lifetime renewals',
      registers: [registry],
    }),
    heartbeatFailures: new Counter({
      name: 'purelb_agent_heartbeat_renew_failures_total',
      help: "Failed renewals of this node's heartbeat Lease",
      registers: [registry],
    }),
    fenced: new Gauge({
      name: 'purelb_agent_fenced',
      help: '1 while this node cannot renew its heartbeat and has withdrawn its local addresses',
      registers: [registry],
    }),
    heartbeatPeers: new Gauge({
      name: 'purelb_agent_heartbeat_peers',
      help: "Other nodes' heartbeat Leases this agent sees: those in the L2 segments of its own subnets",
      registers: [registry],
    }),
    outOfService: new Gauge({
      name: 'purelb_agent_out_of_service',
      help: '1 while this node is out of service (cordoned or excluded by label) and announces nothing',
      registers: [registry],
    }),
  };
}

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
