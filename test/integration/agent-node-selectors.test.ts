// Where a ServiceGroup's addresses are announced, with three real agents in network namespaces against
// the real apiserver and labelled Node objects (each agent watches only its own Node; the peers' labels
// reach the election through the heartbeat Leases):
// - nodeSelectors: a virtual address only on the selected nodes' kube-lb0, following a relabel;
//   a local address elected only among the selected nodes;
// - preferredNodeSelectors: a new local address goes to the preferred node; when that node's agent stops
//   the address moves, and when it comes back it takes nothing back (the current owner keeps it).

import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  CoordinationV1Api,
  EventsV1Api,
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  type V1Node,
} from '@kubernetes/client-node';
import { electWinner } from '../../src/agent/election.ts';
import { ANN } from '../../src/api/annotations.ts';
import { NODE_LABELS_ANNOTATION } from '../../src/model/heartbeat.ts';
import { cleanUpNamespaces, mergePatch, waitFor } from '../harness/kube.ts';
import {
  agentTestArgs,
  agentTestSetup,
  createBrandedService,
  createLan,
  createServiceGroup,
  holderNames,
  LAN_V4,
  startAgentsAndWait,
  waitForSingleHolder,
  type Lan,
  type LanNode,
} from './agent-lan.ts';

let kc: KubeConfig;
let core: CoreV1Api;
let lan: Lan;
let install: string;
let apps: string;
let agentArgs: string[];
let custom: CustomObjectsApi;
const createdNodes: string[] = [];
let a: LanNode, b: LanNode, c: LanNode;

const patchNode = (name: string, body: Partial<V1Node>) => core.patchNode({ name, body }, mergePatch);
const annotation = async (name: string) =>
  (await core.readNamespacedService({ name, namespace: apps })).metadata?.annotations?.[ANN.announcingIPv4];
const leaseLabels = async (node: string) =>
  (await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: `purelb-node-${node}`, namespace: install }))
    .metadata?.annotations?.[NODE_LABELS_ANNOTATION];

/** An address of the LAN whose plain hash winner among all three nodes is `winner`. */
const addressWonBy = (winner: string, from: number) =>
  Array.from({ length: 40 }, (_, i) => `${LAN_V4}.${from + i}`).find(
    (ip) =>
      electWinner(
        ip,
        lan.nodes.map((n) => n.name),
      ) === winner,
  )!;

beforeAll(async () => {
  ({ kc, core, custom, install, apps } = await agentTestSetup({ sendgarp: true }));
  const group = (name: string, spec: Record<string, unknown>) => createServiceGroup(custom, install, name, spec);
  await group('zone-b-virtual', {
    local: { v4pools: [{ subnet: '10.211.0.0/24', pool: '10.211.0.0/24', aggregation: '/32' }] },
    nodeSelectors: [{ matchLabels: { 'topology.kubernetes.io/zone': 'b' } }],
  });
  await group('zone-b-local', {
    local: { v4pools: [{ subnet: `${LAN_V4}.0/24`, pool: `${LAN_V4}.100-${LAN_V4}.139` }] },
    nodeSelectors: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['b'] }] }],
  });
  await group('rack-preferred', {
    local: { v4pools: [{ subnet: `${LAN_V4}.0/24`, pool: `${LAN_V4}.140-${LAN_V4}.179` }] },
    preferredNodeSelectors: [{ matchLabels: { rack: 'r1' } }],
  });
  lan = await createLan(3, Number(new URL(kc.getCurrentCluster()!.server).port), { uniqueNames: true });
  [a, b, c] = lan.nodes as [LanNode, LanNode, LanNode];
  const labels: Record<string, Record<string, string>> = {
    [a.name]: { 'topology.kubernetes.io/zone': 'a', rack: 'r2', unrelated: 'x' },
    [b.name]: { 'topology.kubernetes.io/zone': 'b', rack: 'r2' },
    [c.name]: { 'topology.kubernetes.io/zone': 'b', rack: 'r1' },
  };
  for (const n of lan.nodes) {
    await core.createNode({ body: { metadata: { name: n.name, labels: labels[n.name] } } });
    createdNodes.push(n.name);
  }
  // a stopped agent hands over at once
  agentArgs = agentTestArgs(install, '--restart-grace=0s');
  await startAgentsAndWait(lan, kc, install, agentArgs);
}, 90_000);

afterAll(async () => {
  await lan?.destroy();
  await cleanUpNamespaces();
  for (const name of createdNodes) await core.deleteNode({ name }).catch(() => undefined);
});

describe('admission (CRD schema and CEL)', () => {
  const create = (name: string, extra: Record<string, unknown>) =>
    createServiceGroup(custom, install, name, {
      local: { v4pools: [{ subnet: '10.212.0.0/24', pool: '10.212.0.0/24' }] },
      ...extra,
    });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (err: { body?: string }) => (JSON.parse(err.body ?? '{}') as { message?: string }).message ?? JSON.stringify(err),
    );
  test('an empty selector, In without values, Exists with values and an unknown operator are refused', async () => {
    expect(await refusal(create('bad1', { nodeSelectors: [{}] }))).toContain(
      'an empty selector would select every node',
    );
    expect(
      await refusal(create('bad2', { nodeSelectors: [{ matchExpressions: [{ key: 'rack', operator: 'In' }] }] })),
    ).toContain('In and NotIn need values');
    expect(
      await refusal(
        create('bad3', {
          preferredNodeSelectors: [{ matchExpressions: [{ key: 'rack', operator: 'Exists', values: ['x'] }] }],
        }),
      ),
    ).toContain('Exists and DoesNotExist take none');
    expect(
      await refusal(
        create('bad4', { nodeSelectors: [{ matchExpressions: [{ key: 'rack', operator: 'Gt', values: ['1'] }] }] }),
      ),
    ).toContain('Unsupported value: "Gt"');
  });
});

describe('announcement node selectors', () => {
  test('heartbeat Leases publish only the label keys the selectors read', async () => {
    await waitFor(`${a.name}'s Lease carries its zone and rack`, async () => {
      const text = await leaseLabels(a.name);
      return text === JSON.stringify({ rack: 'r2', 'topology.kubernetes.io/zone': 'a' });
    });
  });

  test("a virtual address goes only on the selected nodes' kube-lb0 and follows a relabel, with the reason in the event", async () => {
    await createBrandedService(core, apps, 'edge-virtual', ['10.211.0.5'], { group: 'zone-b-virtual' });
    const zoneB = [b.name, c.name].sort().join();
    await waitFor(
      '10.211.0.5 on zone b nodes only',
      async () => holderNames(lan, '10.211.0.5', 'kube-lb0').join() === zoneB,
    );
    await new Promise((r) => setTimeout(r, 1500)); // and it stays that way: a resync adds nothing on a
    expect(holderNames(lan, '10.211.0.5', 'kube-lb0').join()).toBe(zoneB);

    await patchNode(b.name, { metadata: { labels: { 'topology.kubernetes.io/zone': 'a' } } });
    await waitFor(
      `10.211.0.5 gone from ${b.name}`,
      async () => holderNames(lan, '10.211.0.5', 'kube-lb0').join() === c.name,
    );
    await waitFor('a Withdrawn event naming the selector', async () =>
      (await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: apps })).items.some(
        (e) =>
          e.reason === 'Withdrawn' &&
          e.note ===
            `node ${b.name} withdrew 10.211.0.5/32 on kube-lb0 (node ${b.name} is not selected by ServiceGroup zone-b-virtual's nodeSelectors {topology.kubernetes.io/zone=b})`,
      ),
    );
    await patchNode(b.name, { metadata: { labels: { 'topology.kubernetes.io/zone': 'b' } } });
    await waitFor(
      `10.211.0.5 back on ${b.name}`,
      async () => holderNames(lan, '10.211.0.5', 'kube-lb0').join() === zoneB,
    );
  }, 60_000);

  test('a local address is elected only among the selected nodes, even when the unselected node wins the hash', async () => {
    const ip = addressWonBy(a.name, 100);
    await createBrandedService(core, apps, 'edge-local', [ip], { group: 'zone-b-local' });
    const expected = electWinner(ip, [b.name, c.name])!;
    await waitForSingleHolder(lan, ip, expected);
    await waitFor('the annotation names it', async () => (await annotation('edge-local')) === `${expected},eth0`);
  }, 60_000);

  test('a preferred node gets a new local address; after it stops and returns, the interim owner keeps it', async () => {
    // an address the plain hash would give to a non-preferred node
    const ip = addressWonBy(a.name, 140);
    await createBrandedService(core, apps, 'preferred', [ip], { group: 'rack-preferred' });
    await waitForSingleHolder(lan, ip, c.name);
    await lan.stopAgent(c, 'SIGTERM');
    const interim = electWinner(ip, [a.name, b.name])!;
    await waitForSingleHolder(lan, ip, interim);
    await waitFor(
      'the annotation names the interim owner',
      async () => (await annotation('preferred')) === `${interim},eth0`,
    );
    await startAgentsAndWait(lan, kc, install, agentArgs, [c]);
    await new Promise((r) => setTimeout(r, 3000)); // several renewals and reconciles of the returning agent
    expect(holderNames(lan, ip, 'eth0')).toEqual([interim]);
    expect(await annotation('preferred')).toBe(`${interim},eth0`);
  }, 60_000);
});
