// Every generated file of the repository and its content: the CRDs (crds/ and the Helm chart's copy),
// the monitoring files (deploy/purelb/components/monitoring and the chart's copy) and the chart's copy of
// deploy/frr/daemons. Helm and kustomize each read only files under their own root, hence the copies;
// test/unit/generated-files.test.ts fails when a committed file differs from what this returns.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCRDFiles } from '../src/api/crd-files.ts';
import { repoRoot } from '../src/lab/cluster/binaries.ts';
import { renderMonitoringFiles } from '../src/monitoring/files.ts';

export const CHART_DIR = 'charts/purelb';
export const MONITORING_COMPONENT_DIR = 'deploy/purelb/components/monitoring';

/** Repository-relative path -> content. */
export function generatedFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, text] of Object.entries(renderCRDFiles())) {
    out[`crds/${file}`] = text;
    out[`${CHART_DIR}/crds/${file}`] = text;
  }
  for (const [file, text] of Object.entries(renderMonitoringFiles())) {
    out[`${MONITORING_COMPONENT_DIR}/${file}`] = text;
    out[`${CHART_DIR}/files/monitoring/${file}`] = text;
  }
  out[`${CHART_DIR}/files/frr-daemons`] = readFileSync(join(repoRoot, 'deploy', 'frr', 'daemons'), 'utf8');
  return out;
}
