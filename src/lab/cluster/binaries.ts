// Where the setup script caches the kube-apiserver, etcd and kubectl it builds from test/k8s-bin.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ClusterBinaries {
  apiserver: string;
  etcd: string;
  /** kubectl of the same release (kustomize built in), for deploy/ tests and docs. */
  kubectl: string;
}

/** Cache key = test/k8s-bin/VERSION; PURELB_K8S_BIN_DIR overrides the directory. */
export function clusterBinaries(): ClusterBinaries {
  const version = readFileSync(join(repoRoot, 'test', 'k8s-bin', 'VERSION'), 'utf8').trim();
  const dir = process.env.PURELB_K8S_BIN_DIR ?? join(homedir(), '.cache', 'purelb', 'k8s', version, 'bin');
  const bins = { apiserver: join(dir, 'kube-apiserver'), etcd: join(dir, 'etcd'), kubectl: join(dir, 'kubectl') };
  for (const path of Object.values(bins)) {
    if (!existsSync(path)) {
      throw new Error(`${path} is missing: run scripts/setup.sh (it builds kube-apiserver, etcd and kubectl ${version} into ${dir})`);
    }
  }
  return bins;
}
