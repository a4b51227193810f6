// The real-cluster lab's control plane: etcd and kube-apiserver from the test harness (with Node
// authorization, NodeRestriction and the `kubernetes` Service IP in its certificate), plus
// kube-controller-manager (EndpointSlices, Deployments, DaemonSets, service-account tokens, node
// lifecycle) and kube-scheduler. All of them are processes of the cluster run directory.
import { join } from 'node:path';
import { clusterBinaries } from '../cluster/binaries.ts';
import { clientCert } from '../cluster/certs.ts';
import { kubeconfigFor, startCluster, type Cluster } from '../cluster/cluster.ts';
import { startOwned } from '../cluster/processes.ts';
import { writeFileSync } from 'node:fs';
import { CLUSTER_NET } from './node-config.ts';

const SERVICE_RANGE = `${CLUSTER_NET.serviceV4},${CLUSTER_NET.serviceV6}`;

function componentKubeconfig(cluster: Cluster, name: string, cn: string): string {
  const { cert, key } = clientCert(cluster.dir, cluster.dir, name, cn);
  const file = join(cluster.dir, `${name}.kubeconfig`);
  writeFileSync(file, kubeconfigFor(cluster.server, cluster.certs.caCert, cert, key, cn));
  return file;
}

export async function startControlPlane(dir: string, bindAddress: string): Promise<Cluster> {
  const cluster = await startCluster({
    bindAddress,
    dir,
    keepRunning: true,
    extraServerIps: [CLUSTER_NET.apiServiceIP],
    extraApiserverArgs: [
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      // kubectl logs/exec would dial the node's LAN address, which the host does not route to
      '--kubelet-preferred-address-types=InternalIP,Hostname',
    ],
  });
  const bins = clusterBinaries();
  const cm = componentKubeconfig(cluster, 'controller-manager', 'system:kube-controller-manager');
  startOwned(
    dir,
    'kube-controller-manager',
    bins.controllerManager,
    [
      `--kubeconfig=${cm}`,
      `--authentication-kubeconfig=${cm}`,
      `--authorization-kubeconfig=${cm}`,
      `--service-account-private-key-file=${cluster.certs.saKey}`,
      `--root-ca-file=${cluster.certs.caCert}`,
      '--use-service-account-credentials=true',
      `--cluster-signing-cert-file=${cluster.certs.caCert}`,
      `--cluster-signing-key-file=${join(dir, 'ca.key')}`,
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      '--controllers=*,-cloud-node-lifecycle',
      '--leader-elect=false',
      // several labs (and test runs) share the host network namespace: no fixed ports
      '--secure-port=0',
      '--v=1',
    ],
    process.env,
    { detached: true },
  );
  const sched = componentKubeconfig(cluster, 'scheduler', 'system:kube-scheduler');
  startOwned(
    dir,
    'kube-scheduler',
    bins.scheduler,
    [
      `--kubeconfig=${sched}`,
      `--authentication-kubeconfig=${sched}`,
      `--authorization-kubeconfig=${sched}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--v=1',
    ],
    process.env,
    { detached: true },
  );
  return cluster;
}
