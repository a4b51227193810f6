// The monitoring objects as the files shipped in deploy/purelb/components/monitoring (a kustomize
// component) and in the Helm chart's files/monitoring (`npm run gen:crds` writes both copies; a unit test
// fails when they drift from this source).
import { dump } from 'js-yaml';
import { prometheusRuleSpec } from './alerts.ts';
import { grafanaDashboard } from './dashboard.ts';

export const MONITORING_HEADER =
  '# Generated from src/monitoring by `npm run gen:crds`; edit the source, not this file.\n';

const labels = { 'app.kubernetes.io/name': 'purelb', 'app.kubernetes.io/component': 'monitoring' };

/** Scrapes the allocator and every agent on their "monitoring" port (/metrics). */
export const podMonitorSpec = () => ({
  selector: { matchLabels: { 'app.kubernetes.io/name': 'purelb' } },
  podMetricsEndpoints: [{ port: 'monitoring', path: '/metrics' }],
});

const object = (kind: string, spec: unknown) => ({
  apiVersion: 'monitoring.coreos.com/v1',
  kind,
  metadata: { name: 'purelb', namespace: 'purelb', labels },
  spec,
});

export function renderMonitoringFiles(): Record<string, string> {
  const yaml = (o: unknown) => MONITORING_HEADER + dump(o, { lineWidth: -1, noRefs: true });
  return {
    'purelb-dashboard.json': JSON.stringify(grafanaDashboard(), null, 2) + '\n',
    'prometheusrule.yaml': yaml(object('PrometheusRule', prometheusRuleSpec())),
    'podmonitor.yaml': yaml(object('PodMonitor', podMonitorSpec())),
  };
}
