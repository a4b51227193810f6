// Configuration files of one real Kubernetes node of the lab (containerd, CNI, kubelet, kube-proxy), as
// pure functions of the node's plan. Every path is under the node's own directory, so nodes sharing the
// machine never share state; the facts behind each setting are in shared/docs/real-cluster.md.
import { join } from 'node:path';
import type { LabPlan, NodePlan } from '../plan.ts';

/** Pod and Service networks of the lab cluster (inside namespaces only). */
export const CLUSTER_NET = {
  podV4: '10.244.0.0/16',
  podV6: 'fd00:10:244::/56',
  serviceV4: '10.96.0.0/16',
  serviceV6: 'fd00:10:96::/108',
  /** first address of the IPv4 Service range: the in-cluster `kubernetes` Service */
  apiServiceIP: '10.96.0.1',
} as const;

/** Lab nodes keep their containerd images and kubelet state on disk: /run is a tmpfs (RAM). */
export const NODE_ROOT = process.env.PURELB_LAB_NODE_ROOT ?? '/var/lib/purelb-lab';

export interface KubeNodePlan {
  node: NodePlan;
  dir: string;
  podV4: string;
  podV6?: string;
  /** kubelet's --cgroup-root, created in every v1 hierarchy before kubelet starts */
  cgroup: string;
  /** where containerd, kubelet, kube-proxy and the shims run (so `down` finds every process) */
  systemCgroup: string;
  containerdSocket: string;
}

export function kubeNodePlan(plan: LabPlan, index: number): KubeNodePlan {
  const node = plan.nodes[index]!;
  const dir = join(NODE_ROOT, plan.options.name, node.name);
  return {
    node,
    dir,
    podV4: `10.244.${index + 1}.0/24`,
    ...(node.ipv6 ? { podV6: `fd00:10:244:${(index + 1).toString(16)}::/64` } : {}),
    cgroup: `purelb-lab-${node.name}`,
    systemCgroup: `purelb-lab-${node.name}-system`,
    containerdSocket: join(dir, 'containerd.sock'),
  };
}

export const nodePaths = (k: KubeNodePlan) => ({
  containerdConfig: join(k.dir, 'containerd.toml'),
  cniConfDir: join(k.dir, 'cni', 'net.d'),
  cniIpamDir: join(k.dir, 'cni', 'ipam'),
  kubeletConfig: join(k.dir, 'kubelet.yaml'),
  kubeletKubeconfig: join(k.dir, 'kubelet.kubeconfig'),
  kubeletRoot: join(k.dir, 'kubelet'),
  podLogs: join(k.dir, 'pod-logs'),
  proxyConfig: join(k.dir, 'kube-proxy.yaml'),
  proxyKubeconfig: join(k.dir, 'kube-proxy.kubeconfig'),
  pki: join(k.dir, 'pki'),
});

const q = (s: string) => JSON.stringify(s);

export function containerdConfig(k: KubeNodePlan, sandboxImage: string): string {
  const p = nodePaths(k);
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${q(join(k.dir, 'containerd', 'root'))}`,
    `state = ${q(join(k.dir, 'containerd', 'state'))}`,
    '[grpc]',
    `  address = ${q(k.containerdSocket)}`,
    '[ttrpc]',
    `  address = ${q(`${k.containerdSocket}.ttrpc`)}`,
    '[debug]',
    '  level = "warn"',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(k.dir, 'containerd', 'opt'))}`,
    `[${cri}]`,
    `  sandbox_image = ${q(sandboxImage)}`,
    // the lab's kernel gives no CAP_SYS_RESOURCE and has no AppArmor
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    // pod network namespaces stay out of the host's /run/netns
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `[${cri}.cni]`,
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = ${q(p.cniConfDir)}`,
    '',
  ].join('\n');
}

/** A bridge per node with host-local IPAM of the node's pod ranges; traffic leaving the pod range is
 * masqueraded (nodes route each other's pod ranges over the LAN, so pod-to-pod needs no masquerade
 * in practice, but pods reaching the apiserver on the management network do). */
export function cniConfig(k: KubeNodePlan): string {
  const p = nodePaths(k);
  const ranges = [[{ subnet: k.podV4 }], ...(k.podV6 ? [[{ subnet: k.podV6 }]] : [])];
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'purelb-lab',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges,
            dataDir: p.cniIpamDir,
            routes: [{ dst: '0.0.0.0/0' }, ...(k.podV6 ? [{ dst: '::/0' }] : [])],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export function kubeletConfig(k: KubeNodePlan, caFile: string): string {
  const p = nodePaths(k);
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      cgroupDriver: 'cgroupfs',
      failCgroupV1: false,
      cgroupRoot: `/${k.cgroup}`,
      containerRuntimeEndpoint: `unix://${k.containerdSocket}`,
      podLogsDir: p.podLogs,
      address: k.node.ipv4,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: caFile } },
      authorization: { mode: 'Webhook' },
      failSwapOn: false,
      maxOpenFiles: 20000,
      // the disk and memory are shared by every node of the machine: never evict or GC images for it
      evictionHard: {
        'memory.available': '50Mi',
        'nodefs.available': '1%',
        'imagefs.available': '1%',
        'nodefs.inodesFree': '1%',
      },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      resolvConf: '/etc/resolv.conf',
      serializeImagePulls: false,
    },
    null,
    2,
  );
}

export function kubeProxyConfig(k: KubeNodePlan): string {
  const p = nodePaths(k);
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: p.proxyKubeconfig },
      hostnameOverride: k.node.name,
      mode: 'iptables',
      clusterCIDR: `${CLUSTER_NET.podV4}${k.podV6 ? `,${CLUSTER_NET.podV6}` : ''}`,
      // no conntrack sysctl writes (the lab's nodes share one kernel)
      conntrack: { maxPerCore: 0, min: 0 },
      metricsBindAddress: '127.0.0.1:10249',
      healthzBindAddress: '127.0.0.1:10256',
      iptables: { localhostNodePorts: false },
    },
    null,
    2,
  );
}

/** Routes from this node to every other node's pod ranges, via their LAN addresses. */
export function podRoutes(all: KubeNodePlan[], self: KubeNodePlan): string[] {
  return all
    .filter((o) => o !== self)
    .flatMap((o) => [
      `route replace ${o.podV4} via ${o.node.ipv4}`,
      ...(o.podV6 && o.node.ipv6 ? [`route replace ${o.podV6} via ${o.node.ipv6}`] : []),
    ]);
}
