// The Grafana dashboard of PureLB (JSON model, schemaVersion 39): allocation and pool usage, announcements
// per node, failovers, routing sessions and reloads. Built from a list of panels so that each query is
// written once; every metric it names is registered by the components (test/unit/monitoring.test.ts).

interface PanelSpec {
  title: string;
  type: 'timeseries' | 'stat' | 'table';
  description: string;
  unit?: string;
  /** [PromQL, legend] */
  queries: Array<[string, string]>;
  width?: number;
}

interface Row {
  title: string;
  panels: PanelSpec[];
}

const rows: Row[] = [
  {
    title: 'Allocation',
    panels: [
      {
        title: 'Pool usage',
        type: 'timeseries',
        unit: 'percentunit',
        description: 'Share of the addresses of each ServiceGroup held by Services (alert above 90%)',
        queries: [
          [
            'max by (group, family) (purelb_allocator_pool_in_use) / (max by (group, family) (purelb_allocator_pool_size) > 0)',
            '{{group}} {{family}}',
          ],
        ],
      },
      {
        title: 'Allocated addresses',
        type: 'timeseries',
        description: 'Addresses held by Services, per ServiceGroup and family, and the pool size',
        queries: [
          ['max by (group, family) (purelb_allocator_pool_in_use)', '{{group}} {{family}} in use'],
          ['max by (group, family) (purelb_allocator_pool_size)', '{{group}} {{family}} size'],
        ],
      },
      {
        title: 'Allocation failures',
        type: 'timeseries',
        unit: 'ops',
        description: 'Services that could not get an address, by reason (pool full, unknown group, ...)',
        queries: [
          ['sum by (reason) (rate(purelb_allocator_allocation_failures_total[$__rate_interval]))', '{{reason}}'],
        ],
      },
      {
        title: 'Allocator leader',
        type: 'stat',
        description: 'Replicas that hold the leader Lease: exactly 1 when healthy',
        width: 6,
        queries: [['sum(purelb_allocator_leader)', 'leaders']],
      },
      {
        title: 'Allocator reconcile p99',
        type: 'timeseries',
        unit: 's',
        description: 'From picking a Service off the queue to its writes completing',
        width: 18,
        queries: [
          [
            'histogram_quantile(0.99, sum by (le) (rate(purelb_allocator_reconcile_duration_seconds_bucket[$__rate_interval])))',
            'p99',
          ],
        ],
      },
    ],
  },
  {
    title: 'Announcements',
    panels: [
      {
        title: 'Announced addresses per node',
        type: 'timeseries',
        description: 'Addresses each node announces: local (ARP/NDP on the LAN interface) and virtual (routed)',
        queries: [['sum by (node, kind) (purelb_agent_addresses_announced)', '{{node}} {{kind}}']],
      },
      {
        title: 'Failovers',
        type: 'timeseries',
        description: 'Local addresses a node took over from another node, and election wins',
        queries: [
          ['sum by (node) (increase(purelb_agent_failovers_total[$__rate_interval]))', '{{node}} failovers'],
          ['sum by (node) (increase(purelb_agent_election_wins_total[$__rate_interval]))', '{{node}} election wins'],
        ],
      },
      {
        title: 'Fenced and out-of-service nodes',
        type: 'timeseries',
        description:
          'Fenced: the node cannot renew its heartbeat and withdrew its local addresses. Out of service: cordoned or excluded by label',
        queries: [
          ['max by (node) (purelb_agent_fenced)', '{{node}} fenced'],
          ['max by (node) (purelb_agent_out_of_service)', '{{node}} out of service'],
        ],
      },
      {
        title: 'Agent reconcile errors and heartbeat failures',
        type: 'timeseries',
        description: 'Reconciles that left kernel changes unapplied; failed renewals of the heartbeat Lease',
        queries: [
          [
            'sum by (node) (increase(purelb_agent_reconcile_errors_total[$__rate_interval]))',
            '{{node}} reconcile errors',
          ],
          [
            'sum by (node) (increase(purelb_agent_heartbeat_renew_failures_total[$__rate_interval]))',
            '{{node}} heartbeat failures',
          ],
        ],
      },
      {
        title: 'Agent reconcile p99',
        type: 'timeseries',
        unit: 's',
        description: 'Read kernel, decide, apply: per node',
        queries: [
          [
            'histogram_quantile(0.99, sum by (node, le) (rate(purelb_agent_reconcile_duration_seconds_bucket[$__rate_interval])))',
            '{{node}}',
          ],
        ],
      },
    ],
  },
  {
    title: 'Routing',
    panels: [
      {
        title: 'Sessions up per node',
        type: 'timeseries',
        description: 'BGP sessions Established and OSPF adjacencies Full, and the ones that are not',
        queries: [
          ['sum by (node, daemon) (purelb_routing_session_up)', '{{node}} up'],
          ['count by (node, daemon) (purelb_routing_session_up == 0)', '{{node}} down'],
        ],
      },
      {
        title: 'Session state',
        type: 'table',
        description: 'Every session of every node: 1 up, 0 down',
        queries: [['max by (node, daemon, session) (purelb_routing_session_up)', '']],
      },
      {
        title: 'Reload results',
        type: 'timeseries',
        description: 'Routing configs applied, rejected (invalid: the previous config keeps running) or failed',
        queries: [
          [
            'sum by (daemon, result) (increase(purelb_routing_reloads_total[$__rate_interval]))',
            '{{daemon}} {{result}}',
          ],
        ],
      },
      {
        title: 'Rejected RouterConfigs and unreachable daemons',
        type: 'timeseries',
        description: 'Nodes whose last RouterConfig change was rejected, and nodes whose daemon does not answer',
        queries: [
          ['max by (node, routerconfig) (purelb_routing_config_rejected)', '{{node}} {{routerconfig}} rejected'],
          ['1 - max by (node, daemon) (purelb_routing_daemon_reachable)', '{{node}} {{daemon}} unreachable'],
        ],
      },
    ],
  },
];

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

function panel(p: PanelSpec, id: number, x: number, y: number) {
  return {
    id,
    title: p.title,
    description: p.description,
    type: p.type,
    datasource: DATASOURCE,
    gridPos: { h: 8, w: p.width ?? 12, x, y },
    fieldConfig: { defaults: p.unit ? { unit: p.unit } : {}, overrides: [] },
    options: p.type === 'table' ? { showHeader: true } : {},
    targets: p.queries.map(([expr, legend], i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr,
      legendFormat: legend,
      ...(p.type === 'table' ? { format: 'table', instant: true } : {}),
    })),
  };
}

/** The dashboard: one collapsed-free row per area, panels laid out two per line (or by their width). */
export function grafanaDashboard() {
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y } });
    y += 1;
    let x = 0;
    for (const p of row.panels) {
      const w = p.width ?? 12;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push(panel(p, id++, x, y));
      x += w;
    }
    y += 8;
  }
  return {
    uid: 'purelb',
    title: 'PureLB',
    tags: ['purelb', 'loadbalancer'],
    timezone: 'browser',
    schemaVersion: 39,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [{ name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {} }],
    },
    panels,
  };
}
