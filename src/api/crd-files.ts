// Renders src/api/crds.ts into the YAML files committed under crds/.
// js-yaml directly: client-node's dumpYaml maps objects through its typed models and drops
// x-kubernetes-validations on typed schema nodes.
import { dump } from 'js-yaml';
import { allCRDs } from './crds.ts';

export const CRD_HEADER = '# Generated from src/api/crds.ts by `npm run gen:crds`; edit the source, not this file.\n';

export function renderCRDFiles(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(allCRDs()).map(([file, crd]) => [file, CRD_HEADER + dump(crd, { lineWidth: -1, noRefs: true })]),
  );
}
