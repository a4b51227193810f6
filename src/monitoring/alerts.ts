// The alerts an operator must hear about, as Prometheus alerting rules (shipped as a PrometheusRule by
// the Helm chart and by deploy/purelb/components/monitoring). Every expression uses only metrics the
// components register (test/unit/monitoring.test.ts); docs/monitoring.md explains each alert.

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'warning' | 'critical' };
  annotations: { summary: string; description: string };
}

export const POOL_FULL_RATIO = 0.9;

export const alertRules: AlertRule[] = [
  {
    alert: 'PureLBPoolNearlyFull',
    // both allocator replicas may export the gauges: max() takes the one value per pool
    expr:
      `max by (group, family) (purelb_allocator_pool_in_use) / ` +
      `(max by (group, family) (purelb_allocator_pool_size) > 0) > ${POOL_FULL_RATIO}`,
    for: '5m',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'ServiceGroup {{ $labels.group }} ({{ $labels.family }}) is more than 90% allocated',
      description:
        '{{ $value | humanizePercentage }} of the {{ $labels.family }} addresses of ServiceGroup {{ $labels.group }} are held by Services. New Services get no address once it is full: add a pool to the ServiceGroup.',
    },
  },
  {
    alert: 'PureLBNoAllocatorLeader',
    expr: 'sum(purelb_allocator_leader) < 1 or absent(purelb_allocator_leader)',
    for: '2m',
    labels: { severity: 'critical' },
    annotations: {
      summary: 'No PureLB allocator replica is the leader',
      description:
        'No allocator holds the Lease purelb-allocator: new LoadBalancer Services get no address. Check the allocator pods (kubectl -n purelb get pods -l app.kubernetes.io/component=allocator) and their logs.',
    },
  },
  {
    alert: 'PureLBRoutingSessionDown',
    expr: 'purelb_routing_session_up == 0',
    for: '5m',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'Routing session {{ $labels.session }} of {{ $labels.node }} is down',
      description:
        'The {{ $labels.daemon }} session {{ $labels.session }} on {{ $labels.node }} is not Established (BGP) or Full (OSPF): the router does not learn the virtual addresses from this node. `purelb status` shows the session state the daemon reports.',
    },
  },
  {
    alert: 'PureLBRoutingDaemonUnreachable',
    expr: 'purelb_routing_daemon_reachable == 0',
    for: '2m',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'The {{ $labels.daemon }} daemon of {{ $labels.node }} does not answer',
      description:
        'The agent on {{ $labels.node }} cannot query its {{ $labels.daemon }} daemon: check the purelb-{{ $labels.daemon }} pod of that node.',
    },
  },
  {
    alert: 'PureLBRoutingConfigRejected',
    expr: 'purelb_routing_config_rejected == 1',
    for: '1m',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'RouterConfig {{ $labels.routerconfig }} was rejected on {{ $labels.node }}',
      description:
        'The last change of RouterConfig {{ $labels.routerconfig }} was rejected or failed to load on {{ $labels.node }}; the previous routing config keeps running. The error is in the NodeRoutingStatus of the node (kubectl get nrs {{ $labels.node }} -n {{ $labels.namespace }} -o yaml) and in a Warning event on the RouterConfig.',
    },
  },
  {
    alert: 'PureLBAgentFenced',
    expr: 'purelb_agent_fenced == 1',
    for: '1m',
    labels: { severity: 'critical' },
    annotations: {
      summary: 'The PureLB agent on {{ $labels.node }} is fenced',
      description:
        'The agent on {{ $labels.node }} cannot renew its heartbeat Lease and has withdrawn its local addresses (other nodes take them over). Check its connection to the API server.',
    },
  },
];

/** The rules as the `spec` of a PrometheusRule. */
export const prometheusRuleSpec = () => ({ groups: [{ name: 'purelb', rules: alertRules }] });
