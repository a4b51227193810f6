// `purelb install crds`: server-side applies the CRDs bundled with this release (the ones in crds/ and in
// the Helm chart's crds/) and waits until they are Established. Helm installs a chart's CRDs once and
// never upgrades them, so this is the upgrade path for them (docs/install.md, "Upgrade").
import { parseArgs } from 'node:util';
import type { KubernetesObject } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { renderCRDFiles } from '../api/crd-files.ts';
import { apiMessage, CRD_PATH, retryBusy, waitEstablished } from '../k8s/api.ts';
import { KubeClient } from '../k8s/rest.ts';
import { clusterOptions, loadClusterConfig, parseDuration, UsageError } from './options.ts';
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';
import type { Command } from './main.ts';

const HELP = `Usage: purelb install crds [--kubeconfig PATH] [--context NAME] [--dry-run] [--timeout 60s]

Server-side applies the CustomResourceDefinitions of this release (servicegroups, lbnodeagents,
routerconfigs, noderoutingstatuses.purelb.io) with field manager "purelb", taking over the fields another manager (helm,
kubectl) set, then waits until each is Established. Run it before "helm upgrade": Helm never
upgrades the CRDs of a chart. Prints one line per CRD: created, configured or unchanged.

  --kubeconfig PATH  kubeconfig file (default: $KUBECONFIG, in a pod its service account, else ~/.kube/config)
  --context NAME     kubeconfig context to use (default: the current one)
  --dry-run          let the apiserver check the CRDs (dryRun=All) without storing them
  --timeout D        how long to wait for Established (default 60s)
`;

export const FIELD_MANAGER = 'purelb';

/** The CRDs as shipped: parsed from the rendered files and sent as they are (every x-kubernetes-* field). */
export function bundledCRDs(): KubernetesObject[] {
  return Object.values(renderCRDFiles()).flatMap((text) => loadAll(text) as KubernetesObject[]);
}

type Outcome = 'created' | 'configured' | 'unchanged';

const content = (o: KubernetesObject) => ({
  labels: o.metadata?.labels,
  annotations: o.metadata?.annotations,
  spec: (o as { spec?: unknown }).spec,
});

async function applyCRD(kc: KubeClient, crd: KubernetesObject, dryRun: boolean): Promise<Outcome> {
  const path = `${CRD_PATH}/${crd.metadata!.name!}`;
  const before = await kc.get<KubernetesObject>(path).catch((err: unknown) => {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  });
  const query = { fieldManager: FIELD_MANAGER, force: true, ...(dryRun ? { dryRun: 'All' } : {}) };
  const after = await retryBusy(() => kc.patch<KubernetesObject>(path, crd, 'apply', { query }));
  if (!before) return 'created';
  // by content, not resourceVersion: a dry run stores nothing, and taking over fields from another
  // manager bumps the resourceVersion without changing the CRD
  return JSON.stringify(content(before)) === JSON.stringify(content(after)) ? 'unchanged' : 'configured';
}

export async function installCRDs(kc: KubeClient, opts: { dryRun: boolean; timeoutMs: number }): Promise<string[]> {
  const lines: string[] = [];
  const crds = bundledCRDs();
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    let outcome: Outcome;
    try {
      outcome = await applyCRD(kc, crd, opts.dryRun);
    } catch (err) {
      throw new Error(`CustomResourceDefinition ${name}: ${apiMessage(err)}`, { cause: err });
    }
    lines.push(
      `customresourcedefinition.apiextensions.k8s.io/${name} ${outcome}${opts.dryRun ? ' (server dry run)' : ''}`,
    );
  }
  if (!opts.dryRun) {
    await waitEstablished(
      kc,
      crds.map((c) => c.metadata!.name!),
      opts.timeoutMs,
    );
    lines.push(...crds.map((c) => `customresourcedefinition.apiextensions.k8s.io/${c.metadata!.name!} established`));
  }
  return lines;
}

/** CRDs are cluster-scoped: the cluster options without a namespace. */
const { kubeconfig, context } = clusterOptions(DEFAULT_NAMESPACE);
const OPTIONS = {
  kubeconfig,
  context,
  'dry-run': { type: 'boolean' },
  timeout: { type: 'string', default: '60s' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const command: Command = {
  options: OPTIONS,
  summary: 'Apply the bundled CRDs (server-side apply; the upgrade path Helm does not have)',
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1 || positionals[0] !== 'crds')
      throw new UsageError(`the only thing to install is "crds" (purelb install crds), got "${positionals.join(' ')}"`);
    const timeoutMs = parseDuration(values.timeout, 'timeout');
    const kc = new KubeClient(loadClusterConfig(values));
    try {
      for (const line of await installCRDs(kc, { dryRun: values['dry-run'] ?? false, timeoutMs })) console.log(line);
    } catch (err) {
      console.error(`purelb install crds: ${(err as Error).message}`);
      return 1;
    }
    return 0;
  },
};
