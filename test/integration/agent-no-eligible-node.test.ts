// "Why is my Service not announced?" with three real agents in network namespaces and a real `purelb
// allocator` process against the real apiserver: a ServiceGroup selects zone b, node a is in zone a (not
// selected), node b is cordoned (excluded: its agent marks its Lease out of service) and node c's agent
// is killed (fenced: its Lease expires, which is no API event). The allocator assigns the address;
// `kubectl describe service` shows exactly one NoEligibleNode event, written by the allocator (which
// watches every heartbeat Lease), naming every node and its reason; `purelb status` shows the same
// reasons. Uncordoning b makes it eligible: it announces the address and says so, and no second warning
// follows.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { EventsV1Api, type CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { k8sBinDir, repoRoot } from '../../src/lab/cluster/binaries.ts';
import { ANN } from '../../src/api/annotations.ts';
import { ALLOCATOR_COMPONENT } from '../../src/api/names.ts';
import type { StatusReport } from '../../src/status/report.ts';
import { cleanUpNamespaces, mergePatch, waitFor } from '../harness/kube.ts';
import {
  agentLogTail,
  agentTestArgs,
  agentTestSetup,
  createLan,
  createServiceGroup,
  holderNames,
  startAgentsAndWait,
  type Lan,
  type LanNode,
} from './agent-lan.ts';
import { createService, spawnAllocator, waitForIngress, type AllocatorProcess } from './allocator-fixtures.ts';

let kc: KubeConfig;
let core: CoreV1Api;
let lan: Lan;
let install: string;
let apps: string;
let a: LanNode, b: LanNode, c: LanNode;
let allocator: AllocatorProcess | undefined;
const createdNodes: string[] = [];
const ADDRESS = '10.213.0.5';
const run = promisify(execFile);

const events = async (reason: string) =>
  (await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: apps })).items.filter(
    (e) => e.regarding?.name === 'why' && e.reason === reason,
  );
const logs = () =>
  [
    ...lan.nodes.map((n) => `--- ${n.name}\n${agentLogTail(n, 10)}`),
    `--- allocator\n${allocator?.logs.slice(-10).join('\n')}`,
  ].join('\n');

beforeAll(async () => {
  let custom;
  ({ kc, core, custom, install, apps } = await agentTestSetup());
  await createServiceGroup(custom, install, 'zone-b', {
    local: { v4pools: [{ subnet: '10.213.0.0/24', pool: '10.213.0.0/24', aggregation: '/32' }] },
    nodeSelectors: [{ matchLabels: { 'topology.kubernetes.io/zone': 'b' } }],
  });
  lan = await createLan(3, Number(new URL(kc.getCurrentCluster()!.server).port), { uniqueNames: true });
  [a, b, c] = [...lan.nodes].sort((x, y) => (x.name < y.name ? -1 : 1)) as [LanNode, LanNode, LanNode];
  for (const [n, zone] of [
    [a, 'a'],
    [b, 'b'],
    [c, 'b'],
  ] as const) {
    await core.createNode({ body: { metadata: { name: n.name, labels: { 'topology.kubernetes.io/zone': zone } } } });
    createdNodes.push(n.name);
  }
  await startAgentsAndWait(lan, kc, install, agentTestArgs(install));
  allocator = spawnAllocator(process.env.PURELB_TEST_KUBECONFIG!, install, `alloc-${install}`, [], apps);
}, 90_000);

afterAll(async () => {
  if (allocator && allocator.child.exitCode === null && allocator.child.signalCode === null)
    allocator.child.kill('SIGTERM');
  await allocator?.exited;
  await lan?.destroy();
  await cleanUpNamespaces();
  for (const name of createdNodes) await core.deleteNode({ name }).catch(() => undefined);
});

test('no eligible node: one event with every node and its reason, in kubectl describe and purelb status; then announced', async () => {
  await core.patchNode({ name: b.name, body: { spec: { unschedulable: true } } as Partial<V1Node> }, mergePatch);
  await lan.stopAgent(c, 'SIGKILL'); // its Lease stays and expires: fenced
  await createService(kc, apps, 'why', { annotations: { [ANN.serviceGroup]: 'zone-b', [ANN.addresses]: ADDRESS } });
  await waitForIngress(kc, apps, 'why', [ADDRESS], 'zone-b');
  const note =
    `no node may announce the virtual address ${ADDRESS} of ServiceGroup zone-b:` +
    ` ${a.name} (not selected), ${b.name} (excluded), ${c.name} (fenced)`;
  await waitFor(
    'a NoEligibleNode event naming every node',
    async () => (await events('NoEligibleNode')).some((e) => e.note === note),
    20_000,
  ).catch(async (err: Error) => {
    throw new Error(
      `${err.message}: ${JSON.stringify((await events('NoEligibleNode')).map((e) => e.note))}\n${logs()}`,
    );
  });
  // a dozen heartbeat renewals (500 ms) and an agent resync (5 s) later still one event, from the allocator
  await new Promise((r) => setTimeout(r, 6_000));
  const warnings = await events('NoEligibleNode');
  expect(warnings.map((e) => [e.type, e.reportingController, e.note])).toEqual([
    ['Warning', ALLOCATOR_COMPONENT, note],
  ]);
  expect(holderNames(lan, ADDRESS, 'kube-lb0')).toEqual([]);

  const { stdout: described } = await run(join(k8sBinDir(), 'kubectl'), [
    '--kubeconfig',
    process.env.PURELB_TEST_KUBECONFIG!,
    'describe',
    'service',
    '-n',
    apps,
    'why',
  ]);
  expect(described).toMatch(
    /Warning\s+NoEligibleNode\s+\S+\s+purelb-allocator\s+no node may announce the virtual address 10\.213\.0\.5/,
  );
  expect(described).toContain(`${b.name} (excluded), ${c.name} (fenced)`);

  const { stdout: status } = await run(process.execPath, [
    join(repoRoot, 'bin', 'purelb.js'),
    'status',
    '--kubeconfig',
    process.env.PURELB_TEST_KUBECONFIG!,
    '--namespace',
    install,
    '-o',
    'json',
  ]);
  const row = (JSON.parse(status) as StatusReport).services.find((s) => s.service === `${apps}/why`);
  expect(row?.ineligible).toEqual({ [a.name]: 'not selected', [b.name]: 'excluded', [c.name]: 'fenced' });
  expect(row?.announcing).toEqual([]);

  // b back in service: it announces the address and says so; no second warning
  await core.patchNode({ name: b.name, body: { spec: { unschedulable: false } } as Partial<V1Node> }, mergePatch);
  await waitFor(
    `${ADDRESS} on ${b.name}'s kube-lb0`,
    async () => holderNames(lan, ADDRESS, 'kube-lb0').join() === b.name,
  );
  await waitFor('an AnnouncingNonLocal event from b', async () =>
    (await events('AnnouncingNonLocal')).some((e) => e.note === `node ${b.name} announces ${ADDRESS}/32 on kube-lb0`),
  );
  expect(await events('NoEligibleNode')).toHaveLength(1);
}, 90_000);
