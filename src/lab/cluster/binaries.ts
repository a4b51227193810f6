// Where the setup script caches the Kubernetes binaries it builds from test/k8s-bin.
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
  /** control plane of the lab's real cluster */
  controllerManager: string;
  scheduler: string;
  /** per node of the lab's real cluster, next to that node's containerd */
  kubelet: string;
  kubeProxy: string;
  /** cri-tools' crictl (its own module and version: test/k8s-bin/crictl/go.mod) */
  crictl: string;
}

/** test/k8s-bin/VERSION, the cache key. */
export function k8sBinVersion(): string {
  return readFileSync(join(repoRoot, 'test', 'k8s-bin', 'VERSION'), 'utf8').trim();
}

/** The directory scripts/setup.sh builds into: PURELB_K8S_BIN_DIR, else ~/.cache/purelb/k8s/<VERSION>/bin. */
export function k8sBinDir(): string {
  return process.env.PURELB_K8S_BIN_DIR ?? join(homedir(), '.cache', 'purelb', 'k8s', k8sBinVersion(), 'bin');
}

/** Paths of every binary scripts/setup.sh builds; throws, naming the first missing one, if any is absent. */
export function clusterBinaries(): ClusterBinaries {
  const dir = k8sBinDir();
  const bins: ClusterBinaries = {
    apiserver: join(dir, 'kube-apiserver'),
    etcd: join(dir, 'etcd'),
    kubectl: join(dir, 'kubectl'),
    controllerManager: join(dir, 'kube-controller-manager'),
    scheduler: join(dir, 'kube-scheduler'),
    kubelet: join(dir, 'kubelet'),
    kubeProxy: join(dir, 'kube-proxy'),
    crictl: join(dir, 'crictl'),
  };
  for (const path of Object.values(bins) as string[]) {
    if (!existsSync(path)) {
      throw new Error(
        `${path} is missing: run scripts/setup.sh (it builds the Kubernetes binaries ${k8sBinVersion()} into ${dir})`,
      );
    }
  }
  return bins;
}
