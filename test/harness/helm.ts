// The helm CLI that scripts/setup.sh builds from test/helm-bin (cached like the Kubernetes binaries), and
// rendering the chart into plain objects.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import type { K8sObject, Run } from './deploy.ts';

export const CHART = join(repoRoot, 'charts', 'purelb');
/** The Kubernetes version the chart is rendered for (the one the project tests against). */
export const KUBE_VERSION = '1.36.3';

/** The helm release pinned in test/helm-bin/go.mod (its tool module's version): the cache key. */
export function helmVersion(): string {
  const mod = readFileSync(join(repoRoot, 'test', 'helm-bin', 'go.mod'), 'utf8');
  const v = /^\s*helm\.sh\/helm\/v\d+ (v\S+)/m.exec(mod)?.[1];
  if (!v) throw new Error('test/helm-bin/go.mod requires no helm.sh/helm module');
  return v;
}

export function helmBinary(): string {
  const dir = process.env.PURELB_HELM_BIN_DIR ?? join(homedir(), '.cache', 'purelb', 'helm', helmVersion(), 'bin');
  const path = join(dir, 'helm');
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/setup.sh (it builds helm ${helmVersion()})`);
  return path;
}

/** Runs helm (never throws on a non-zero exit: tests assert on the code and the messages). */
export function helm(args: string[], opts: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<Run> {
  // helm keeps its cache/config/data under $HOME by default: keep them out of the user's
  const scratch = join(tmpdir(), 'purelb-helm-home');
  const env = {
    ...process.env,
    KUBECONFIG: opts.kubeconfig ?? '/dev/null',
    HELM_CACHE_HOME: join(scratch, 'cache'),
    HELM_CONFIG_HOME: join(scratch, 'config'),
    HELM_DATA_HOME: join(scratch, 'data'),
  };
  return new Promise((resolve) => {
    execFile(
      helmBinary(),
      args,
      { cwd: repoRoot, env, maxBuffer: 32 << 20, timeout: opts.timeoutMs ?? 300_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** `helm template` of the chart into namespace purelb with the given values (as --set-json, one per key). */
export async function helmTemplate(values: Record<string, unknown> = {}, extra: string[] = []): Promise<K8sObject[]> {
  const sets = Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
  const run = await helm([
    'template',
    'purelb',
    CHART,
    '--namespace',
    'purelb',
    '--kube-version',
    KUBE_VERSION,
    ...sets,
    ...extra,
  ]);
  if (run.code !== 0) throw new Error(`helm template failed: ${run.stderr}`);
  return (loadAll(run.stdout) as K8sObject[]).filter(Boolean);
}
