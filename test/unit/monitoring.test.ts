// The shipped dashboard and alerts (deploy/purelb/components/monitoring, the chart's copy is checked equal by
// generated-files.test.ts) query only metrics that the components register: the real registration modules
// of the allocator, the agent and its routing side are instantiated and their registries listed, and every
// expression goes through Prometheus' own PromQL parser (test/promql-bin), which also names its metrics.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@jest/globals';
import { load } from 'js-yaml';
import { Registry } from 'prom-client';
import { createAgentMetrics } from '../../src/agent/metrics.ts';
import { createAllocatorMetrics } from '../../src/allocator/metrics.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { createRoutingMetrics, sessionUp } from '../../src/routing/metrics.ts';
import type { NodeRoutingStatus } from '../../src/routing/status.ts';
import { parsePromQL } from '../harness/promql.ts';

const DIR = join(repoRoot, 'deploy', 'purelb', 'components', 'monitoring');

/** Every series name the components can expose (histograms as _bucket/_sum/_count). */
async function registeredNames(): Promise<Set<string>> {
  const agent = createAgentMetrics();
  createRoutingMetrics(agent.registry);
  const names = new Set<string>();
  for (const registry of [createAllocatorMetrics().registry, agent.registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    }
  }
  return names;
}

/** Grafana replaces its range variable before the query reaches Prometheus. */
const asPrometheusSees = (expr: string) => expr.replaceAll('$__rate_interval', '5m');

/** The metric names of each expression, by Prometheus' parser; a parse error fails the test. */
function metricNames(exprs: string[]): string[][] {
  return parsePromQL(exprs.map(asPrometheusSees)).map((p, i) => {
    expect({ expr: exprs[i], error: p.error }).toEqual({ expr: exprs[i], error: undefined });
    return p.metrics ?? [];
  });
}

const dashboard = JSON.parse(readFileSync(join(DIR, 'purelb-dashboard.json'), 'utf8')) as {
  panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
};
const rules = (
  load(readFileSync(join(DIR, 'prometheusrule.yaml'), 'utf8')) as {
    spec: { groups: Array<{ rules: Array<{ alert: string; expr: string; labels: { severity: string } }> }> };
  }
).spec.groups.flatMap((g) => g.rules);

test("Prometheus' parser refuses a broken expression and finds every selected metric", () => {
  expect(parsePromQL(['max(']).map((p) => p.error)).toEqual([expect.stringContaining('unclosed left parenthesis')]);
  expect(
    parsePromQL([
      'histogram_quantile(0.99, sum by (node, le) (rate(purelb_agent_reconcile_duration_seconds_bucket{job="x"}[5m])))',
      'sum(a_metric) < 1 or absent(other_metric)',
    ]).map((p) => p.metrics),
  ).toEqual([['purelb_agent_reconcile_duration_seconds_bucket'], ['a_metric', 'other_metric']]);
});

test('every dashboard query uses only registered metrics', async () => {
  const names = await registeredNames();
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
  expect(queries.length).toBeGreaterThan(10);
  const used = metricNames(queries.map((q) => q.expr));
  for (const [i, q] of queries.entries()) {
    expect(used[i]!.length).toBeGreaterThan(0);
    for (const m of used[i]!) expect(`${q.panel}: ${m} ${names.has(m)}`).toBe(`${q.panel}: ${m} true`);
  }
});

test('the dashboard covers allocation, pool usage, announcements, failovers, sessions and reloads', () => {
  const all = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
  for (const m of [
    'purelb_allocator_pool_in_use',
    'purelb_allocator_pool_size',
    'purelb_allocator_allocation_failures_total',
    'purelb_agent_addresses_announced',
    'purelb_agent_failovers_total',
    'purelb_routing_session_up',
    'purelb_routing_reloads_total',
  ])
    expect(all).toContain(m);
});

test('the alerts cover pool > 90 %, no leader, a session down, a rejected config, a fenced agent, with registered metrics only', async () => {
  const names = await registeredNames();
  const used = metricNames(rules.map((r) => r.expr));
  const byMetric = (m: string) => rules.filter((_r, i) => used[i]!.includes(m)).map((r) => r.alert);
  expect(byMetric('purelb_allocator_pool_in_use')).toEqual(['PureLBPoolNearlyFull']);
  expect(rules.find((r) => r.alert === 'PureLBPoolNearlyFull')!.expr).toMatch(/> 0\.9$/);
  expect(byMetric('purelb_allocator_leader')).toEqual(['PureLBNoAllocatorLeader']);
  expect(byMetric('purelb_routing_session_up')).toEqual(['PureLBRoutingSessionDown']);
  expect(byMetric('purelb_routing_config_rejected')).toEqual(['PureLBRoutingConfigRejected']);
  expect(byMetric('purelb_agent_fenced')).toEqual(['PureLBAgentFenced']);
  for (const [i, r] of rules.entries()) {
    expect(['warning', 'critical']).toContain(r.labels.severity);
    for (const m of used[i]!) expect(`${r.alert}: ${m} ${names.has(m)}`).toBe(`${r.alert}: ${m} true`);
  }
});

test('a session is up when Established (BGP) or Full (OSPF, any role), down otherwise', () => {
  for (const s of ['Established', 'Full/DR', 'Full/Backup', 'Full/DROther', 'Full']) expect(sessionUp(s)).toBe(true);
  for (const s of ['Active', 'Connect', 'Idle', 'OpenSent', 'Init/DROther', '2-Way/DROther', 'ExStart', 'Unknown', ''])
    expect(sessionUp(s)).toBe(false);
});

test('routing metrics follow the status: a removed session and a cleared rejection leave no stale series', async () => {
  const registry = new Registry();
  const m = createRoutingMetrics(registry);
  const status = (sessions: NodeRoutingStatus['sessions'], result: 'Applied' | 'Rejected'): NodeRoutingStatus => ({
    routerConfig: 'rc',
    daemon: 'frr',
    protocol: 'bgp',
    sessions,
    advertised: [],
    advertisedCount: 0,
    lastReload: { time: '', result },
    updated: '',
  });
  const series = async (name: string) =>
    (await registry.getSingleMetric(name)!.get()).values.map((v) => ({ ...v.labels, value: v.value }));
  m.observeStatus(
    'tor',
    status(
      [
        { name: '10.0.0.1', state: 'Established' },
        { name: '10.0.0.2', state: 'Active' },
      ],
      'Rejected',
    ),
  );
  m.countReload('frr', 'Rejected');
  m.countReload('frr', 'Unchanged');
  expect(await series('purelb_routing_session_up')).toEqual([
    { daemon: 'frr', session: '10.0.0.1', value: 1 },
    { daemon: 'frr', session: '10.0.0.2', value: 0 },
  ]);
  expect(await series('purelb_routing_config_rejected')).toEqual([{ daemon: 'frr', routerconfig: 'tor', value: 1 }]);
  expect(await series('purelb_routing_reloads_total')).toEqual([{ daemon: 'frr', result: 'Rejected', value: 1 }]);
  m.observeStatus('tor', status([{ name: '10.0.0.1', state: 'Established' }], 'Applied'));
  expect(await series('purelb_routing_session_up')).toEqual([{ daemon: 'frr', session: '10.0.0.1', value: 1 }]);
  expect(await series('purelb_routing_config_rejected')).toEqual([{ daemon: 'frr', routerconfig: 'tor', value: 0 }]);
  m.clear();
  expect(await series('purelb_routing_session_up')).toEqual([]);
});
