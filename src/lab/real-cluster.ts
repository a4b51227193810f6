// `purelb lab up` as a real Kubernetes: a control plane on the management bridge, and in every node
// namespace containerd, a kubelet and kube-proxy. The product is installed the way docs/install.md
// tells a user (kubectl apply -f crds/, then kubectl apply -k of an overlay), from images built here
// out of the shipped Dockerfiles; the sample Services front real pods.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { repoRoot, clusterBinaries } from './cluster/binaries.ts';
import { run } from '../exec.ts';
import { errorText } from '../log.ts';
import { clusterDir, labDir, procDir, writeLedger, type Ledger } from './ledger.ts';
import { startControlPlane } from './kube/control-plane.ts';
import { importImages, startContainerd, startKubelet, type ImageSet } from './kube/node.ts';
import { kubeNodePlan } from './kube/node-config.ts';
import type { LabPlan } from './plan.ts';

export type Progress = (msg: string) => void;

interface ImageEntry {
  ref: string;
  tar: string;
  sizeBytes?: number;
}

/** Runs scripts/images.sh (it builds or finds the cached images) and returns what to import. */
export async function labImages(progress: Progress): Promise<ImageSet & { entries: ImageEntry[] }> {
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'scripts', 'images.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        if (/^\[images/.test(l)) progress(`  ${l}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (buf) lines.push(buf);
      if (code === 0) resolve();
      else reject(new Error(`scripts/images.sh failed (exit ${code}):\n${lines.slice(-20).join('\n')}`));
    });
  });
  const dir = lines
    .filter((l) => l.trim() !== '')
    .at(-1)!
    .trim();
  const { images: entries, all } = JSON.parse(readFileSync(join(dir, 'images.json'), 'utf8')) as {
    images: ImageEntry[];
    all: string;
  };
  const pause = entries.find((e) => e.ref.includes('pause'));
  if (!pause) throw new Error(`${dir}/images.json has no pause image`);
  return { tars: [all], pause: pause.ref, entries };
}

/** kubectl of the cluster's release, as an admin, with the lab's kubeconfig. */
export function kubectl(kubeconfig: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return run(clusterBinaries().kubectl, [`--kubeconfig=${kubeconfig}`, ...args], { timeoutMs });
}

/** Why a node is not Ready: its Ready condition and the kubelet's last error lines (klog "E" lines). */
function notReadyReason(node: V1Node | undefined, kubeletLog: string): string {
  const c = node?.status?.conditions?.find((x) => x.type === 'Ready');
  const condition = c
    ? `Ready=${c.status} ${c.reason ?? ''}: ${c.message ?? ''}`
    : 'no Node object or no Ready condition yet';
  let errors: string[];
  try {
    errors = readFileSync(kubeletLog, 'utf8')
      .split('\n')
      .filter((l) => /^E\d{4} /.test(l))
      .slice(-5);
  } catch {
    errors = [`(no kubelet log at ${kubeletLog})`];
  }
  return [condition, ...errors.map((e) => `  kubelet: ${e.slice(0, 400)}`)].join('\n');
}

async function waitNodesReady(
  kc: KubeConfig,
  names: string[],
  logs: string,
  progress: Progress,
  timeoutMs = 180_000,
): Promise<void> {
  const api = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const nodes = (await api.listNode()).items;
    const byName = (n: string) => nodes.find((x) => x.metadata?.name === n);
    const ready = names.filter((n) =>
      byName(n)?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    const msg = `nodes Ready: ${ready.length}/${names.length}`;
    if (msg !== last) progress(msg);
    last = msg;
    if (ready.length === names.length) return;
    if (Date.now() > deadline) {
      const why = names
        .filter((n) => !ready.includes(n))
        .map((n) => `${n}: ${notReadyReason(byName(n), join(logs, `${n}-kubelet.log`))}`);
      throw new Error(`nodes not Ready after ${timeoutMs / 1000} s:\n${why.join('\n')}`);
    }
    await sleep(500);
  }
}

/** Control plane, images, nodes; returns the admin kubeconfig path once every node is Ready. */
export async function buildRealCluster(ledger: Ledger, plan: LabPlan, progress: Progress): Promise<string> {
  const name = plan.options.name;
  progress(`control plane on ${plan.mgmt.host}: etcd, kube-apiserver, kube-controller-manager, kube-scheduler`);
  mkdirSync(clusterDir(name), { recursive: true });
  const cluster = await startControlPlane(clusterDir(name), plan.mgmt.host);
  const kubeconfig = join(labDir(name), 'kubeconfig');
  copyFileSync(cluster.kubeconfig, kubeconfig);
  ledger.info.kubeconfig = kubeconfig;
  ledger.info.realCluster = true;
  writeLedger(ledger);

  progress('images: scripts/images.sh (the shipped Dockerfiles; cached after the first build)');
  const images = await labImages(progress);
  const kube = plan.nodes.map((_, i) => kubeNodePlan(plan, i));
  progress(`containerd on ${kube.length} nodes (own mount + UTS namespace, cgroups ${kube[0]!.cgroup}...)`);
  const control = { server: cluster.server, caDir: clusterDir(name) };
  const holders = await Promise.all(kube.map((k) => startContainerd(ledger, procDir(name), k, control, images)));
  progress(`importing ${images.tars.length} images into each node's containerd`);
  await Promise.all(kube.map((k) => importImages(k, images)));
  progress('kubelet and kube-proxy on every node');
  for (const [i, k] of kube.entries()) await startKubelet(procDir(name), k, kube, holders[i]!, plan.options.name);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  await waitNodesReady(
    kc,
    plan.nodes.map((n) => n.name),
    procDir(name),
    progress,
  );
  return kubeconfig;
}

/** The product's CRDs (crds/). */
const PRODUCT_CRDS = [
  'servicegroups.purelb.io',
  'lbnodeagents.purelb.io',
  'routerconfigs.purelb.io',
  'noderoutingstatuses.purelb.io',
];

/** `kubectl wait --for condition=established` on the product's CRDs. A CRD just created has
 * `status.conditions: null` for a moment, and kubectl then fails (".status.conditions accessor error:
 * <nil> is of the type <nil>") instead of waiting: that one error is asked again. */
export async function waitCrdsEstablished(kubeconfig: string): Promise<void> {
  const args = ['wait', '--for', 'condition=established', '--timeout=60s', ...PRODUCT_CRDS.map((c) => `crd/${c}`)];
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await kubectl(kubeconfig, args);
      return;
    } catch (err) {
      if (!errorText(err).includes('.status.conditions accessor error: <nil>') || Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** The product, installed as docs/install.md says, with the lab's overlay for the chosen daemon. */
export async function installProduct(kubeconfig: string, plan: LabPlan, progress: Progress): Promise<void> {
  const overlay = join('lab', 'overlays', plan.options.daemon);
  progress(`install: kubectl apply -f crds/ && kubectl wait ... established && kubectl apply -k ${overlay}`);
  await kubectl(kubeconfig, ['apply', '-f', join(repoRoot, 'crds')]);
  await waitCrdsEstablished(kubeconfig);
  await kubectl(kubeconfig, ['apply', '-k', join(repoRoot, overlay)]);
}

/** Waits until each workload of `namespace` is rolled out (every pod ready). */
export async function waitRollout(
  kubeconfig: string,
  namespace: string,
  workloads: string[],
  progress: Progress,
): Promise<void> {
  for (const w of workloads) {
    progress(`waiting for ${w} to roll out`);
    await kubectl(kubeconfig, ['-n', namespace, 'rollout', 'status', w, '--timeout=180s'], 200_000);
  }
}

/** The product's workloads in the lab: allocator, agent and the overlay's routing daemon. */
export const productWorkloads = (plan: LabPlan) => [
  'deployment/allocator',
  'daemonset/lbnodeagent',
  `daemonset/purelb-${plan.options.daemon}`,
];
