// Helpers for the deploy/ tests: the kubectl built by scripts/setup.sh (kustomize included), the list of
// kustomizations under deploy/, and rendering one into plain objects.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { KubernetesObjectApi, type KubeConfig, type V1PolicyRule } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { clusterBinaries, repoRoot } from '../../src/lab/cluster/binaries.ts';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Runs kubectl (never throws on a non-zero exit: tests assert on the code and the messages). */
export function kubectl(args: string[], opts: { kubeconfig?: string; input?: string } = {}): Promise<Run> {
  const env = { ...process.env, KUBECONFIG: opts.kubeconfig ?? '/dev/null' };
  return new Promise((resolve) => {
    const child = execFile(
      clusterBinaries().kubectl,
      args,
      { cwd: repoRoot, env, maxBuffer: 32 << 20 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Every directory under deploy/ holding a kustomization.yaml, relative to the repository root. Components
 * (deploy/purelb/components/*) are left out: they are not built alone but added to a kustomization. */
export function kustomizations(dir = join(repoRoot, 'deploy')): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (entry === 'kustomization.yaml') {
      if (!/^kind: Component$/m.test(readFileSync(path, 'utf8'))) out.push(relative(repoRoot, dir));
    } else if (statSync(path).isDirectory()) out.push(...kustomizations(path));
  }
  return out;
}

export async function kustomize(dir: string): Promise<K8sObject[]> {
  const run = await kubectl(['kustomize', dir]);
  if (run.code !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${run.stderr}`);
  return (loadAll(run.stdout) as K8sObject[]).filter(Boolean);
}

/**
 * Renders a kustomization into another namespace with a name suffix (through a throw-away overlay), so a
 * test installs the real manifests, cluster-scoped RBAC included, without colliding with other tests.
 */
export async function kustomizeInto(dir: string, namespace: string, nameSuffix: string): Promise<K8sObject[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'purelb-kustomize-'));
  try {
    writeFileSync(
      join(tmp, 'kustomization.yaml'),
      JSON.stringify({
        namespace,
        nameSuffix,
        resources: [relative(tmp, join(repoRoot, dir))],
      }),
    );
    return await kustomize(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export const objectId = (o: K8sObject): string =>
  `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

export interface InstalledRbac {
  objects: K8sObject[];
  /** ClusterRole + Role rules of a component ("allocator", "lbnodeagent"). */
  rules(component: string): { cluster: V1PolicyRule[]; namespaced: V1PolicyRule[] };
  /** Deletes the cluster-scoped objects (the namespaced ones go with the test namespace). */
  remove(): Promise<void>;
}

const RBAC_KINDS = ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'];

/** Creates the service accounts and RBAC of deploy/purelb/base in `namespace`, names suffixed. */
export async function installBaseRbac(kc: KubeConfig, namespace: string, suffix: string): Promise<InstalledRbac> {
  const objects = (await kustomizeInto('deploy/purelb/base', namespace, suffix)).filter((o) =>
    RBAC_KINDS.includes(o.kind),
  );
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects) await api.create(o);
  const rulesOf = (kind: string, component: string) =>
    (objects.find((o) => o.kind === kind && o.metadata.name === `purelb:${component}${suffix}`)?.rules ??
      []) as V1PolicyRule[];
  return {
    objects,
    rules: (component) => ({ cluster: rulesOf('ClusterRole', component), namespaced: rulesOf('Role', component) }),
    async remove() {
      for (const o of objects.filter((x) => x.kind.startsWith('Cluster'))) await api.delete(o).catch(() => undefined);
    },
  };
}
