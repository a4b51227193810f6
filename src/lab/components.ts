// The lab's PureLB processes: the allocator on the host and one agent per node namespace, each the real
// `purelb` command authenticated as its deploy/purelb service account (so the shipped RBAC is what
// runs), plus the per-node HTTP responders and routing daemons.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from './cluster/binaries.ts';
import { freePort } from './cluster/cluster.ts';
import { readState, startOwned } from './cluster/processes.ts';
import { labOwner, startBird, startGobgpd } from './daemons.ts';
import { restartFrrDaemon, startFrr, type FrrDaemon } from './frr.ts';
import { labDir, procDir } from './ledger.ts';
import type { LabPlan, NodePlan } from './plan.ts';
import { RESPONDER_PORTS } from './samples.ts';

const PURELB = join(repoRoot, 'bin', 'purelb.js');

/** A kubeconfig file authenticating as `namespace/sa` with a TokenRequest token (valid 24 h). */
export async function serviceAccountKubeconfig(
  admin: KubeConfig,
  namespace: string,
  sa: string,
  file: string,
): Promise<string> {
  const tr = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: sa,
    namespace,
    body: { spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 86_400 } },
  });
  const cluster = admin.getCurrentCluster()!;
  writeFileSync(
    file,
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'lab', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
        users: [{ name: sa, user: { token: tr.status!.token } }],
        contexts: [{ name: sa, context: { cluster: 'lab', user: sa, namespace } }],
        'current-context': sa,
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  return file;
}

export const nodeDir = (plan: LabPlan, node: NodePlan) => join(labDir(plan.options.name), 'nodes', node.name);

/** Where each routing daemon of a node keeps its config and control socket (the agent is told these). */
export function routingPaths(plan: LabPlan, node: NodePlan) {
  const dir = nodeDir(plan, node);
  return {
    birdDir: join(dir, 'bird'),
    birdSocket: join(dir, 'bird', 'bird.ctl'),
    frrDir: join(dir, 'frr'),
    gobgpSocket: join(dir, 'gobgp', 'gobgp.sock'),
  };
}

export async function startRoutingDaemon(plan: LabPlan, node: NodePlan): Promise<void> {
  const name = plan.options.name;
  const p = routingPaths(plan, node);
  const proto = plan.options.protocol;
  switch (plan.options.daemon) {
    case 'bird':
      // the agent's routing controller replaces this with the rendered RouterConfig
      await startBird(procDir(name), node.name, node.netns, p.birdDir, `router id ${node.ipv4};\nprotocol device {}\n`);
      break;
    case 'frr':
      await startFrr(
        labOwner(procDir(name)),
        node.name,
        node.netns,
        p.frrDir,
        proto === 'bgp'
          ? ['bgpd', ...(plan.options.bfd ? (['bfdd'] as const) : [])]
          : ['ospfd', ...(node.ipv6 ? (['ospf6d'] as const) : [])],
      );
      break;
    case 'gobgp':
      await startGobgpd(procDir(name), node.name, node.netns, join(nodeDir(plan, node), 'gobgp'));
      break;
  }
}

/** The processes that ARE the node's routing daemon (what a "routing daemon crash" kills). */
export function routingDaemonProcesses(plan: LabPlan, node: NodePlan): string[] {
  const o = plan.options;
  if (o.daemon === 'bird') return [`${node.name}-bird`];
  if (o.daemon === 'gobgp') return [`${node.name}-gobgpd`];
  return o.protocol === 'bgp'
    ? [`${node.name}-bgpd`]
    : [`${node.name}-ospfd`, ...(node.ipv6 ? [`${node.name}-ospf6d`] : [])];
}

/** Starts the killed routing daemon again: BIRD and FRR boot from the config the agent last wrote;
 * gobgpd starts empty and the agent's routing controller has to notice and re-apply. */
export async function restartRoutingDaemon(plan: LabPlan, node: NodePlan): Promise<void> {
  const p = routingPaths(plan, node);
  const name = plan.options.name;
  if (plan.options.daemon === 'frr') {
    for (const proc of routingDaemonProcesses(plan, node)) {
      const daemon = proc.slice(node.name.length + 1) as FrrDaemon;
      await restartFrrDaemon(labOwner(procDir(name)), node.name, node.netns, p.frrDir, daemon);
    }
  } else {
    await startRoutingDaemon(plan, node);
  }
}

export function agentArgs(plan: LabPlan, node: NodePlan, kubeconfig: string, namespace: string): string[] {
  const p = routingPaths(plan, node);
  return [
    PURELB,
    'agent',
    '--kubeconfig',
    kubeconfig,
    '--namespace',
    namespace,
    '--node-name',
    node.name,
    '--node-ip',
    node.ipv4,
    '--health-port',
    '7473',
    '--kube-lb-kind',
    'ifb',
    '--state-file',
    join(nodeDir(plan, node), 'agent-state.json'),
    '--bird-socket',
    p.birdSocket,
    '--bird-config-dir',
    p.birdDir,
    '--frr-dir',
    p.frrDir,
    '--frr-vty-socket',
    p.frrDir,
    '--gobgp-socket',
    p.gobgpSocket,
  ];
}

export function startAgent(plan: LabPlan, node: NodePlan, kubeconfig: string, namespace: string): number {
  mkdirSync(nodeDir(plan, node), { recursive: true });
  const child = startOwned(
    procDir(plan.options.name),
    `${node.name}-agent`,
    process.execPath,
    agentArgs(plan, node, kubeconfig, namespace),
    process.env,
    { detached: true, netns: node.netns },
  );
  return child.pid!;
}

export async function startAllocator(plan: LabPlan, kubeconfig: string, namespace: string): Promise<number> {
  const port = await freePort();
  const child = startOwned(
    procDir(plan.options.name),
    'allocator',
    process.execPath,
    [PURELB, 'allocator', '--kubeconfig', kubeconfig, '--namespace', namespace, '--health-port', String(port)],
    process.env,
    { detached: true },
  );
  return child.pid!;
}

export function startResponder(plan: LabPlan, node: NodePlan): void {
  startOwned(
    procDir(plan.options.name),
    `${node.name}-responder`,
    process.execPath,
    [join(repoRoot, 'src', 'lab', 'responder.ts'), node.name, ...RESPONDER_PORTS.map(String)],
    process.env,
    { detached: true, netns: node.netns },
  );
}

/** The live pid of the lab process `name` (last started), e.g. "plab-node1-agent". */
export function pidOf(labName: string, name: string): number | undefined {
  return readState(procDir(labName))
    .processes.filter((p) => p.name === name)
    .at(-1)?.pid;
}
