// `purelb lab up | status | down`: one machine, a whole routed cluster. The real kube-apiserver + etcd
// listen on a management bridge; nodes are network namespaces on one LAN behind a ToR namespace
// running FRR; the allocator, one agent per node and one routing daemon per node are real processes.
import { HEARTBEAT_PREFIX } from '../model/heartbeat.ts';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { CoordinationV1Api, CoreV1Api, KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';
import { canonicalIP } from '../api/ip.ts';
import { applyObjects, createObjects, deleteObjects, loadYamlDir } from './apply.ts';
import { waitEstablished } from '../k8s/api.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { KubeClient } from '../k8s/rest.ts';
import { repoRoot } from './cluster/binaries.ts';
import { startCluster } from './cluster/cluster.ts';
import { isAlive } from './cluster/processes.ts';
import {
  serviceAccountKubeconfig,
  startAgent,
  startAllocator,
  startResponder,
  startRoutingDaemon,
} from './components.ts';
import { labOwner } from './daemons.ts';
import { startFrr } from './frr.ts';
import {
  cleanLedger,
  clusterDir,
  labDir,
  openLedger,
  procDir,
  readLedger,
  writeLedger,
  type Ledger,
} from './ledger.ts';
import { attachNodeToManagement, createManagementBridge, hostRoutes } from './management.ts';
import { createNetwork, linkLocals } from './network.ts';
import { pickManagementSubnet, planLab, planManagement, type LabOptions, type LabPlan } from './plan.ts';
import { buildStatusReport, renderStatus, table, type StatusReport } from '../status/report.ts';
import { labRouterConfig } from './routerconfig.ts';
import {
  endpointSlices,
  nodeObjects,
  realServiceObject,
  sampleServiceGroups,
  sampleServices,
  sampleWorkloads,
  serviceObject,
  SAMPLE_NAMESPACE,
} from './samples.ts';
import { buildRealCluster, installProduct, productWorkloads, waitRollout } from './real-cluster.ts';
import { formatSpread, requestSpread, type Spread } from './spread.ts';
import { readStatusInputs } from '../status/source.ts';
import { labTorSpec, renderTor, torDaemons } from './tor.ts';
import { readVtyshRoutes } from '../status/upstream.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export type Progress = (msg: string) => void;

/** A management bridge + apiserver that outlive one lab (the e2e suite reuses them across backends). */
export interface SharedCluster {
  kubeconfig: string;
  mgmt: { bridge: string; subnet: string };
}

export interface Lab {
  plan: LabPlan;
  kc: KubeConfig;
  kubeconfig: string;
  namespace: string;
  torVtyDir: string;
}

/** The e2e suite's management bridge + apiserver, recorded in a ledger of their own (`lab down --name`
 * removes them after a crash like any lab). */
export async function startSharedCluster(name: string): Promise<SharedCluster> {
  requireRoot();
  if (readLedger(name)) throw new Error(`"${name}" exists: run "purelb lab down --name ${name}" first`);
  const ledger = openLedger(name);
  try {
    const mgmt = planManagement(name, pickManagementSubnet(hostRoutes(), randomInt(256)));
    await createManagementBridge(ledger, mgmt);
    mkdirSync(clusterDir(name), { recursive: true });
    const cluster = await startCluster({ bindAddress: mgmt.host, dir: clusterDir(name), keepRunning: true });
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const crds = loadYamlDir(join(repoRoot, 'crds'));
    await applyObjects(kc, crds);
    await waitEstablished(
      new KubeClient(loadKubeConfig(cluster.kubeconfig)),
      crds.map((c) => c.metadata!.name!),
    );
    await applyObjects(kc, deployDefaults());
    return { kubeconfig: cluster.kubeconfig, mgmt: { bridge: mgmt.bridge, subnet: mgmt.subnet } };
  } catch (err) {
    await cleanLedger(name);
    throw err;
  }
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'purelb lab needs root: it creates network namespaces, veths and bridges and runs routing daemons. Run it as root (e.g. sudo npm run lab -- up).',
    );
  }
}

export const torVtyDir = (name: string) => join(labDir(name), 'tor-frr');

function labFromLedger(ledger: Ledger): Lab {
  const plan = ledger.info.plan as LabPlan;
  const kubeconfig = ledger.info.kubeconfig as string;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { plan, kc, kubeconfig, namespace: ledger.info.namespace as string, torVtyDir: torVtyDir(plan.options.name) };
}

export function openLab(name: string): Lab {
  const ledger = readLedger(name);
  if (!ledger?.info.kubeconfig)
    throw new Error(
      `no lab named "${name}" is up (nothing in ${labDir(name)}); start one with: purelb lab up --name ${name}`,
    );
  return labFromLedger(ledger);
}

/** Brings the whole lab up; on any error, removes everything it created and rethrows. */
export async function upLab(options: LabOptions, progress: Progress, shared?: SharedCluster): Promise<Lab> {
  requireRoot();
  const name = options.name;
  const existing = readLedger(name);
  if (existing) {
    const hint = isAlive(existing.ownerPid) && existing.ownerPid !== process.pid ? ' (its `up` is still running)' : '';
    throw new Error(`a lab named "${name}" exists${hint}: run "purelb lab down --name ${name}" first, or use --name`);
  }
  // options are checked (planLab throws naming the flag) before anything is created
  const plan = planLab(options, shared?.mgmt.subnet ?? pickManagementSubnet(hostRoutes(), randomInt(256)));
  if (shared) plan.mgmt.bridge = shared.mgmt.bridge;
  const ledger = openLedger(name);
  try {
    return await build(ledger, plan, progress, shared);
  } catch (err) {
    progress(`failed: ${(err as Error).message}`);
    const kept = keepLogs(name);
    progress(`removing what was created${kept ? ` (its logs are kept in ${kept})` : ''}`);
    await cleanLedger(name);
    throw err;
  }
}

/** Copies the lab's process and control-plane logs out of the run directory that clean-up removes. */
export function keepLogs(name: string): string | undefined {
  const dest = join(tmpdir(), `purelb-lab-${name}-failed-${Date.now()}`);
  try {
    for (const dir of [procDir(name), clusterDir(name)]) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.log'))) {
        mkdirSync(dest, { recursive: true });
        copyFileSync(join(dir, f), join(dest, f));
      }
    }
    return existsSync(dest) ? dest : undefined;
  } catch {
    return undefined; // the failure itself is what the user needs to see
  }
}

/** The process lab in named steps: network, control plane, routing, components, samples. */
async function build(ledger: Ledger, plan: LabPlan, progress: Progress, shared?: SharedCluster): Promise<Lab> {
  if (!plan.options.processes && !shared) return buildReal(ledger, plan, progress);
  const options = plan.options;
  ledger.info.plan = plan;
  writeLedger(ledger);
  const namespace = DEFAULT_NAMESPACE;

  progress(
    `network: ToR ${plan.torNetns}, client ${plan.clientNetns}, ${plan.nodes.length} nodes on LAN ${plan.lan.v4}${plan.lan.v6 ? ` + ${plan.lan.v6}` : ''}`,
  );
  await createNetwork(ledger, plan);
  if (!shared) await createManagementBridge(ledger, plan.mgmt);
  for (let i = 0; i < plan.nodes.length; i++) await attachNodeToManagement(ledger, plan, i);

  const { kc, kubeconfig } = await controlPlane(ledger, plan, namespace, progress, shared);

  const vty = await startTor(plan, progress);
  progress(`routing daemons: ${options.daemon} (${options.protocol}) on every node`);
  for (const node of plan.nodes) await startRoutingDaemon(plan, node);
  await applyObjects(kc, [labRouterConfig(plan, namespace)]);

  await startComponents(plan, kc, namespace, progress);
  const lab: Lab = { plan, kc, kubeconfig, namespace, torVtyDir: vty };
  await waitAgents(lab, progress);
  if (options.samples) {
    progress('samples: ServiceGroups "lan" (local) and "virtual", Services, EndpointSlices');
    await applySamples(lab);
    await waitConverged(lab, progress);
  }
  return lab;
}

/** The shared apiserver, or one of the lab's own; then the CRDs, deploy defaults and Node objects. */
async function controlPlane(
  ledger: Ledger,
  plan: LabPlan,
  namespace: string,
  progress: Progress,
  shared?: SharedCluster,
): Promise<{ kc: KubeConfig; kubeconfig: string }> {
  const name = plan.options.name;
  let kubeconfig: string;
  if (shared) {
    kubeconfig = shared.kubeconfig;
  } else {
    progress(`kube-apiserver + etcd on ${plan.mgmt.host} (management bridge ${plan.mgmt.bridge})`);
    mkdirSync(clusterDir(name), { recursive: true });
    const cluster = await startCluster({ bindAddress: plan.mgmt.host, dir: clusterDir(name), keepRunning: true });
    kubeconfig = join(labDir(name), 'kubeconfig');
    copyFileSync(cluster.kubeconfig, kubeconfig);
  }
  ledger.info.kubeconfig = kubeconfig;
  ledger.info.namespace = namespace;
  writeLedger(ledger);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);

  progress('applying crds/ and deploy/purelb/base (namespace, RBAC, default LBNodeAgent)');
  const crds = loadYamlDir(join(repoRoot, 'crds'));
  await applyObjects(kc, crds);
  await waitEstablished(
    new KubeClient(loadKubeConfig(kubeconfig)),
    crds.map((c) => c.metadata!.name!),
  );
  await applyObjects(kc, deployDefaults());
  await createObjects(kc, nodeObjects(plan));
  return { kc, kubeconfig };
}

/** The allocator and, on every node, an agent and the test responder, with deploy/purelb's RBAC. */
async function startComponents(plan: LabPlan, kc: KubeConfig, namespace: string, progress: Progress): Promise<void> {
  const name = plan.options.name;
  progress('allocator and one agent per node (service-account tokens of deploy/purelb RBAC)');
  const allocKc = await serviceAccountKubeconfig(
    kc,
    namespace,
    'allocator',
    join(labDir(name), 'kubeconfig-allocator'),
  );
  const agentKc = await serviceAccountKubeconfig(
    kc,
    namespace,
    'lbnodeagent',
    join(labDir(name), 'kubeconfig-lbnodeagent'),
  );
  await startAllocator(plan, allocKc, namespace);
  for (const node of plan.nodes) {
    startAgent(plan, node, agentKc, namespace);
    startResponder(plan, node);
  }
}

async function startTor(plan: LabPlan, progress: Progress): Promise<string> {
  const o = plan.options;
  progress(`ToR: FRR ${o.protocol === 'bgp' ? `BGP AS ${o.torASN}, ECMP over the nodes` : 'OSPF area 0'}`);
  const vty = torVtyDir(o.name);
  const spec = labTorSpec(plan);
  await startFrr(labOwner(procDir(o.name)), plan.torNetns, plan.torNetns, vty, torDaemons(spec), {
    config: renderTor(spec),
    bgpListen: true,
  });
  return vty;
}

/** The real Kubernetes lab: nodes with containerd, kubelet and kube-proxy; the product installed from
 * its images and manifests; sample Services in front of real pods. */
async function buildReal(ledger: Ledger, plan: LabPlan, progress: Progress): Promise<Lab> {
  const namespace = DEFAULT_NAMESPACE;
  ledger.info.plan = plan;
  writeLedger(ledger);
  progress(
    `network: ToR ${plan.torNetns}, client ${plan.clientNetns}, ${plan.nodes.length} nodes on LAN ${plan.lan.v4}${plan.lan.v6 ? ` + ${plan.lan.v6}` : ''}`,
  );
  await createNetwork(ledger, plan);
  await createManagementBridge(ledger, plan.mgmt);
  for (let i = 0; i < plan.nodes.length; i++) await attachNodeToManagement(ledger, plan, i);
  const kubeconfig = await buildRealCluster(ledger, plan, progress);
  ledger.info.namespace = namespace;
  writeLedger(ledger);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const vty = await startTor(plan, progress);
  const lab: Lab = { plan, kc, kubeconfig, namespace, torVtyDir: vty };
  if (plan.options.install === false) return lab;
  await installProduct(kubeconfig, plan, progress);
  await applyObjects(kc, [labRouterConfig(plan, namespace)]);
  await waitRollout(kubeconfig, 'purelb', productWorkloads(plan), progress);
  await waitAgents(lab, progress);
  if (plan.options.samples) {
    progress('samples: ServiceGroups "lan" (local) and "virtual", Services, echo Deployments');
    await applyObjects(kc, sampleServiceGroups(plan, namespace));
    await applyObjects(kc, sampleWorkloads(plan));
    await applyObjects(
      kc,
      sampleServices(plan).map((s) => realServiceObject(s)),
    );
    // every echo pod ready too: requests to the sample URLs reach pods on every node they should
    await waitRollout(
      kubeconfig,
      SAMPLE_NAMESPACE,
      sampleWorkloads(plan).map((w) => `deployment/${w.metadata!.name}`),
      progress,
    );
    await waitConverged(lab, progress);
  }
  return lab;
}

/** Waits until every node's agent holds its heartbeat Lease (it is then ready to announce). */
async function waitAgents(lab: Lab, progress: Progress, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leases = (await lab.kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: lab.namespace }))
      .items;
    const missing = lab.plan.nodes
      .filter((n) => !leases.some((l) => l.metadata?.name === HEARTBEAT_PREFIX + n.name))
      .map((n) => n.name);
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      progress(
        `agents without a heartbeat after ${timeoutMs / 1000} s: ${missing.join(', ')} (logs: ${procDir(lab.plan.options.name)})`,
      );
      return;
    }
    await sleep(250);
  }
}

/** deploy/purelb/base without the workloads (the lab runs those as processes). */
export function deployDefaults(): KubernetesObject[] {
  return loadYamlDir(join(repoRoot, 'deploy', 'purelb', 'base'))
    .filter((o) => !['Kustomization', 'Deployment', 'DaemonSet'].includes(o.kind!))
    .sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
}

export async function applySamples(lab: Lab): Promise<void> {
  await applyObjects(lab.kc, sampleServiceGroups(lab.plan, lab.namespace));
  const services = sampleServices(lab.plan);
  await applyObjects(
    lab.kc,
    services.map((s) => serviceObject(s)),
  );
  await applyObjects(
    lab.kc,
    services.flatMap((s) => endpointSlices(lab.plan, s)),
  );
}

/** Node name for a next hop the ToR reports (LAN addresses and eth0 link-locals). */
export async function nodeByIP(plan: LabPlan): Promise<Record<string, string>> {
  const out: Record<string, string> = await linkLocals(plan);
  for (const n of plan.nodes) {
    out[canonicalIP(n.ipv4)!] = n.name;
    if (n.ipv6) out[canonicalIP(n.ipv6)!] = n.name;
  }
  return out;
}

export async function labReport(lab: Lab): Promise<StatusReport> {
  const inputs = await readStatusInputs(new KubeClient(loadKubeConfig(lab.kubeconfig)), lab.namespace);
  const routes = await readVtyshRoutes(lab.plan.torNetns, lab.torVtyDir);
  return buildStatusReport({
    ...inputs,
    upstream: { netns: lab.plan.torNetns, routes, nodeByIP: await nodeByIP(lab.plan) },
  });
}

/** Addresses not yet where they should be: a virtual one whose ToR next hops or announcing nodes are not
 * exactly `nodes` (ETP Local: the nodes with endpoints), a local one without exactly one owner, or one no
 * agent classified yet. */
export function unconverged(report: StatusReport, nodes: string[]): string[] {
  return report.services
    .filter((s) => {
      if (s.kind === 'local') return s.announcing.length !== 1;
      if (s.kind === 'unknown') return true;
      const want = JSON.stringify([...(s.etp === 'Local' ? (s.endpointNodes ?? []) : nodes)].sort());
      // the ToR's FIB, and the nodes' own routing status (refreshed every few seconds) agree
      return want !== JSON.stringify(s.upstream ?? []) || want !== JSON.stringify(s.announcing);
    })
    .map((s) => `${s.service} ${s.address}`);
}

async function waitConverged(lab: Lab, progress: Progress, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const expected = sampleServices(lab.plan).length;
  let last = '';
  for (;;) {
    const report = await labReport(lab);
    const withAddress = new Set(report.services.map((s) => s.service)).size;
    const pending = unconverged(
      report,
      lab.plan.nodes.map((n) => n.name),
    );
    const msg = `waiting: ${withAddress}/${expected} Services have addresses; ${pending.length} addresses not yet announced by exactly the expected nodes`;
    if (withAddress >= expected && pending.length === 0 && report.services.length > 0) {
      progress('converged: every address is announced by exactly the expected nodes (ToR next hops / local owner)');
      return;
    }
    if (msg !== last) progress(msg);
    last = msg;
    if (Date.now() > deadline) {
      progress(
        `not converged after ${timeoutMs / 1000} s (still: ${pending.join('; ') || 'allocation'}); printing what is there. Logs: ${procDir(lab.plan.options.name)}`,
      );
      return;
    }
    await sleep(500);
  }
}

/** Requests from the client to every Service address (first port of the Service). */
export async function labSpreads(lab: Lab, n = 30): Promise<Spread[]> {
  const services = (await lab.kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace: SAMPLE_NAMESPACE })).items;
  const targets = services.flatMap((svc) => {
    const port = svc.spec?.ports?.[0]?.port;
    return (svc.status?.loadBalancer?.ingress ?? []).flatMap((ing) => (ing.ip && port ? [{ ip: ing.ip, port }] : []));
  });
  return Promise.all(targets.map((t) => requestSpread(lab.plan.clientNetns, t.ip, t.port, n)));
}

export async function renderLab(lab: Lab): Promise<string> {
  const report = await labReport(lab);
  const spreads = await labSpreads(lab);
  const p = lab.plan;
  return [
    `lab "${p.options.name}": ${p.nodes.length} nodes, ${p.options.daemon}/${p.options.protocol}, ToR ${p.torNetns} (AS ${p.options.torASN}), client ${p.clientNetns}`,
    `kubeconfig: ${lab.kubeconfig}   (e.g. KUBECONFIG=${lab.kubeconfig} kubectl get svc -A)`,
    '',
    renderStatus(report),
    '',
    `REQUESTS FROM ${p.clientNetns} (${spreads[0] ? Object.values(spreads[0].counts).reduce((a, b) => a + b, 0) : 30} each)`,
    table(
      ['URL', 'ANSWERED BY'],
      spreads.map((s) => [s.url, formatSpread(s)]),
    ),
    '',
    `logs: ${procDir(p.options.name)}   stop everything: purelb lab down --name ${p.options.name}`,
  ].join('\n');
}

/** Removes the lab; with a shared cluster, also the lab's objects in it. */
export async function downLab(name: string, progress: Progress, shared?: SharedCluster): Promise<boolean> {
  requireRoot();
  const ledger = readLedger(name);
  if (shared && ledger?.info.plan) {
    const lab = labFromLedger(ledger);
    const services = sampleServices(lab.plan);
    await deleteObjects(lab.kc, [
      ...services.map((s) => serviceObject(s)),
      ...services.flatMap((s) => endpointSlices(lab.plan, s)),
      labRouterConfig(lab.plan, lab.namespace),
      ...sampleServiceGroups(lab.plan, lab.namespace),
      ...nodeObjects(lab.plan),
    ]);
  }
  const found = await cleanLedger(name, progress);
  if (!found && !existsSync(labDir(name))) progress(`no lab named "${name}"`);
  return found;
}
