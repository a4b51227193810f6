// Kubeconfig for components and the CLI: --kubeconfig, else KUBECONFIG, else the in-cluster service account,
// else ~/.kube/config.
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * KUBECONFIG as kubectl reads it: a list of files, missing ones skipped, merged with the first file that
 * defines a cluster, user or context (or the current context) winning. client-node's own merge takes the
 * last current context and throws on a name two files share.
 */
export function loadKubeConfigList(list: string): KubeConfig {
  const files = list.split(delimiter).filter((f) => f !== '' && existsSync(f));
  if (files.length === 0) throw new Error(`KUBECONFIG=${list}: none of these files exists`);
  const out = new KubeConfig();
  out.loadFromFile(files[0]!);
  for (const file of files.slice(1)) {
    const next = new KubeConfig();
    next.loadFromFile(file);
    const add = <T extends { name: string }>(have: T[], more: T[]) =>
      more.filter((m) => !have.some((h) => h.name === m.name));
    out.loadFromOptions({
      clusters: [...out.getClusters(), ...add(out.getClusters(), next.getClusters())],
      users: [...out.getUsers(), ...add(out.getUsers(), next.getUsers())],
      contexts: [...out.getContexts(), ...add(out.getContexts(), next.getContexts())],
      currentContext: out.getCurrentContext() || next.getCurrentContext(),
    });
  }
  return out;
}

export function loadKubeConfig(path?: string): KubeConfig {
  if (path) {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return kc;
  }
  if (process.env.KUBECONFIG) return loadKubeConfigList(process.env.KUBECONFIG);
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
