// One real kube-apiserver + etcd per jest run; tests find it through PURELB_TEST_KUBECONFIG.
import { startCluster, type Cluster } from '../../src/lab/cluster/cluster.ts';

declare global {
  var __purelbCluster: Cluster | undefined;
}

export default async function globalSetup(): Promise<void> {
  const cluster = await startCluster();
  globalThis.__purelbCluster = cluster;
  process.env.PURELB_TEST_KUBECONFIG = cluster.kubeconfig;
  process.env.PURELB_TEST_CLUSTER_DIR = cluster.dir;
}
