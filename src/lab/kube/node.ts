// One real Kubernetes node of the lab: a network namespace (made by network.ts) plus its own mount and
// UTS namespace, held by a `sleep` process, in which containerd, kubelet and kube-proxy run. Each node
// has its own cgroups in every v1 hierarchy: kubelet's --cgroup-root for the pods, and a system cgroup
// for the daemons and containerd's shims, so `down` finds every process of the node by cgroup name.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterBinaries } from '../cluster/binaries.ts';
import { clientCert } from '../cluster/certs.ts';
import { kubeconfigFor } from '../cluster/cluster.ts';
import { startOwned } from '../cluster/processes.ts';
import { ipBatch, run } from '../../exec.ts';
import { waitForFile, waitUntil } from '../wait.ts';
import { record, type Ledger } from '../ledger.ts';
import {
  cniConfig,
  containerdConfig,
  kubeletConfig,
  kubeProxyConfig,
  nodePaths,
  podRoutes,
  type KubeNodePlan,
} from './node-config.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** The v1 hierarchies (and the unified one) this machine mounts: every place a node's cgroup must exist. */
function hierarchies(): string[] {
  return readdirSync(CGROUP_ROOT)
    .map((h) => join(CGROUP_ROOT, h))
    .filter((p) => statSync(p).isDirectory());
}

function createCgroup(name: string): void {
  for (const h of hierarchies()) {
    const dir = join(h, name);
    mkdirSync(dir, { recursive: true });
    // a cpuset cgroup takes no task before it has cpus and mems
    if (existsSync(join(h, 'cpuset.cpus'))) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, f), readFileSync(join(h, f)));
    }
  }
}

/** Every cgroup directory below `name` in one hierarchy, deepest first. */
function cgroupTree(hierarchy: string, name: string): string[] {
  const root = join(hierarchy, name);
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    out.push(dir);
  };
  walk(root);
  return out;
}

function pidsOf(name: string): number[] {
  const pids = new Set<number>();
  for (const h of hierarchies()) {
    for (const dir of cgroupTree(h, name)) {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
    }
  }
  return [...pids];
}

/** Kills every process in the cgroups `names` (containers, shims, daemons), then removes the cgroups. */
export async function removeCgroups(names: string[], graceMs = 3000): Promise<void> {
  const signalAll = (sig: NodeJS.Signals) => {
    for (const name of names) {
      for (const pid of pidsOf(name)) {
        try {
          process.kill(pid, sig);
        } catch {
          // already gone
        }
      }
    }
  };
  signalAll('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (names.some((n) => pidsOf(n).length > 0) && Date.now() < deadline) await sleep(100);
  for (let i = 0; i < 50 && names.some((n) => pidsOf(n).length > 0); i++) {
    signalAll('SIGKILL');
    await sleep(100);
  }
  for (const h of hierarchies()) {
    for (const name of names) {
      for (const dir of cgroupTree(h, name)) {
        try {
          rmdirSync(dir);
        } catch {
          // a cgroup whose last task is still exiting; a second `down` removes it
        }
      }
    }
  }
}

/** argv prefix that runs a command inside the node (its mount, UTS and network namespaces, via the
 * holder's pid) and in its system cgroup, then execs it (the recorded pid is the daemon's). */
function inNode(k: KubeNodePlan, holderPid: number): string[] {
  const enterCgroup = `for f in ${CGROUP_ROOT}/*/${k.systemCgroup}/cgroup.procs; do echo $$ > "$f"; done; exec "$@"`;
  return ['nsenter', `--target=${holderPid}`, '--mount', '--uts', '--net', '--', 'sh', '-c', enterCgroup, 'sh'];
}

export interface ControlPlaneAccess {
  server: string;
  /** the cluster CA directory (ca.crt + ca.key) */
  caDir: string;
}

export interface ImageSet {
  /** docker-archive tarballs to import into every node */
  tars: string[];
  /** sandbox (pause) image reference */
  pause: string;
}

function writeNodeFiles(k: KubeNodePlan, control: ControlPlaneAccess, images: ImageSet): void {
  const p = nodePaths(k);
  for (const d of [k.dir, p.cniConfDir, p.cniIpamDir, p.kubeletRoot, p.podLogs, p.pki])
    mkdirSync(d, { recursive: true });
  // the node's private /run hides the lab dir: everything the node's processes read lives in its own dir
  const ca = join(p.pki, 'ca.crt');
  copyFileSync(join(control.caDir, 'ca.crt'), ca);
  const kubelet = clientCert(control.caDir, p.pki, 'kubelet', `system:node:${k.node.name}`, 'system:nodes');
  const proxy = clientCert(control.caDir, p.pki, 'kube-proxy', 'system:kube-proxy');
  writeFileSync(
    p.kubeletKubeconfig,
    kubeconfigFor(control.server, ca, kubelet.cert, kubelet.key, `system:node:${k.node.name}`),
  );
  writeFileSync(p.proxyKubeconfig, kubeconfigFor(control.server, ca, proxy.cert, proxy.key, 'system:kube-proxy'));
  writeFileSync(p.containerdConfig, containerdConfig(k, images.pause));
  writeFileSync(join(p.cniConfDir, '10-purelb-lab.conflist'), cniConfig(k));
  writeFileSync(p.kubeletConfig, kubeletConfig(k, ca));
  writeFileSync(p.proxyConfig, kubeProxyConfig(k));
}

/** The holder: enters the node's network namespace, unshares mount + UTS, names the host, gives the node
 * a private /run (hostPath volumes like /run/purelb are then per node), a private CNI cache and a private
 * device-plugin directory: the kubelet binds its registration socket there whatever --root-dir says, and
 * kubelets starting at once on one directory fail with "bind: address already in use". */
function startHolder(procDir: string, k: KubeNodePlan): number {
  mkdirSync('/var/lib/cni', { recursive: true });
  mkdirSync('/var/lib/kubelet/device-plugins', { recursive: true });
  const init = [
    `hostname ${k.node.name}`,
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mount -t tmpfs -o mode=0755 tmpfs /var/lib/cni',
    'mount -t tmpfs -o mode=0755 tmpfs /var/lib/kubelet/device-plugins',
    'exec "$@"',
  ].join(' && ');
  const child = startOwned(procDir, `${k.node.name}-node`, 'sleep', ['infinity'], process.env, {
    detached: true,
    prefix: [
      'nsenter',
      `--net=/run/netns/${k.node.netns}`,
      'unshare',
      '--mount',
      '--uts',
      '--propagation',
      'slave',
      '--',
      'sh',
      '-c',
      init,
      'sh',
    ],
  });
  return child.pid!;
}

async function holderReady(pid: number): Promise<boolean> {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep');
  } catch {
    return false;
  }
}

/** Creates the node's files and cgroups and starts containerd; returns the holder's pid. */
export async function startContainerd(
  ledger: Ledger,
  procDir: string,
  k: KubeNodePlan,
  control: ControlPlaneAccess,
  images: ImageSet,
): Promise<number> {
  record(ledger, 'dirs', dirname(k.dir));
  record(ledger, 'cgroups', k.cgroup);
  record(ledger, 'cgroups', k.systemCgroup);
  writeNodeFiles(k, control, images);
  createCgroup(k.cgroup);
  createCgroup(k.systemCgroup);
  const holder = startHolder(procDir, k);
  await waitUntil(
    `${k.node.name} namespaces (log: ${procDir}/${k.node.name}-node.log)`,
    () => holderReady(holder),
    10_000,
    200,
  );
  startOwned(
    procDir,
    `${k.node.name}-containerd`,
    '/usr/bin/containerd',
    ['--config', nodePaths(k).containerdConfig],
    process.env,
    { detached: true, prefix: inNode(k, holder) },
  );
  await waitForFile(
    k.containerdSocket,
    `${k.node.name} containerd (log: ${procDir}/${k.node.name}-containerd.log)`,
    30_000,
  );
  return holder;
}

/** Imports the images into the node's containerd (namespace k8s.io, where the kubelet looks). */
export async function importImages(k: KubeNodePlan, images: ImageSet): Promise<void> {
  for (const tar of images.tars) {
    await run('ctr', ['-a', k.containerdSocket, '-n', 'k8s.io', 'images', 'import', tar], { timeoutMs: 300_000 });
  }
}

/** Pod routes to the other nodes, bridge netfilter on, then kubelet and kube-proxy. */
export async function startKubelet(
  procDir: string,
  k: KubeNodePlan,
  all: KubeNodePlan[],
  holderPid: number,
  labName: string,
): Promise<void> {
  const p = nodePaths(k);
  const routes = podRoutes(all, k);
  if (routes.length) await ipBatch(routes, k.node.netns);
  // kube-proxy needs bridged pod traffic to traverse iptables (hairpin, pod to Service on the same node)
  if (!existsSync('/proc/sys/net/bridge')) await run('modprobe', ['br_netfilter']);
  await run('nsenter', [
    `--net=/run/netns/${k.node.netns}`,
    'sysctl',
    '-qw',
    'net.bridge.bridge-nf-call-iptables=1',
    'net.bridge.bridge-nf-call-ip6tables=1',
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
  ]);
  const bins = clusterBinaries();
  startOwned(
    procDir,
    `${k.node.name}-kubelet`,
    bins.kubelet,
    [
      `--config=${p.kubeletConfig}`,
      `--kubeconfig=${p.kubeletKubeconfig}`,
      `--root-dir=${p.kubeletRoot}`,
      `--hostname-override=${k.node.name}`,
      `--node-ip=${[k.node.ipv4, k.node.ipv6].filter(Boolean).join(',')}`,
      // the lab's RouterConfig selects its nodes by this label
      `--node-labels=purelb.io/lab=${labName}`,
      '--v=1',
    ],
    process.env,
    { detached: true, prefix: inNode(k, holderPid) },
  );
  startOwned(
    procDir,
    `${k.node.name}-kube-proxy`,
    bins.kubeProxy,
    [`--config=${p.proxyConfig}`, '--v=1'],
    process.env,
    { detached: true, prefix: inNode(k, holderPid) },
  );
}
