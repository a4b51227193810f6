// The e2e scenarios, run once per routing backend (one test file per daemon/protocol): a 3-node lab
// with the real allocator, agents, routing daemons and the FRR ToR. Every check looks from outside
// the nodes: the ToR's FIB, ARP answers on the LAN and HTTP requests from the client namespace.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { applyObjects } from '../src/lab/apply.ts';
import { restartRoutingDaemon, routingDaemonProcesses, startAgent } from '../src/lab/components.ts';
import type { Lab } from '../src/lab/lab.ts';
import type { Daemon, Protocol } from '../src/lab/plan.ts';
import { labRouterConfig } from '../src/lab/routerconfig.ts';
import { LOCAL_GROUP, VIRTUAL_GROUP, type SampleService } from '../src/lab/samples.ts';
import { join } from 'node:path';
import { labDir } from '../src/lab/ledger.ts';
import { nodeRoutingStatus } from '../test/harness/kube.ts';
import {
  addressesOf,
  allNodes,
  announcing,
  applyService,
  arpAnswerers,
  deleteService,
  nodeNames,
  nodesHolding,
  readService,
  setEndpoints,
  signalProcess,
  spread,
  startBackendLab,
  stopBackendLab,
  torHops,
  torNeighbourOwner,
  waitExited,
  waitFor,
  waitHops,
  waitStableHops,
} from './harness.ts';

const svc = (name: string, over: Partial<SampleService>): SampleService => ({
  name,
  group: VIRTUAL_GROUP,
  etp: 'Cluster',
  families: ['IPv4', 'IPv6'],
  port: 80,
  endpointNodes: [0, 1, 2],
  ...over,
});

/** Every request answered, and exactly by `nodes`, each at least once. */
function expectSpreadOver(counts: Record<string, number>, nodes: string[]): void {
  expect(Object.keys(counts).sort()).toEqual([...nodes].sort());
  for (const n of nodes) expect(counts[n]).toBeGreaterThan(0);
}

export function backendSuite(daemon: Daemon, protocol: Protocol, tag: string): void {
  // BGP with each daemon runs on the real cluster too (e2e/cluster): ECMP, ETP Local and local-address
  // failover are checked there, through kubelets, images and kube-proxy; here only what it does not do
  const unlessOnRealCluster = protocol === 'bgp' ? () => undefined : test;
  describe(`${daemon}/${protocol}`, () => {
    let lab: Lab;
    const cluster = svc('e2e-cluster', {});
    const local = svc('e2e-local', { etp: 'Local', endpointNodes: [0, 1] });

    beforeAll(async () => {
      lab = await startBackendLab(daemon, protocol, tag);
    }, 180_000);

    afterAll(async () => {
      // the apiserver is shared with the next backend: leave no Service behind
      if (lab) for (const s of [cluster, local]) await deleteService(lab, s);
      await stopBackendLab(lab);
    }, 60_000);

    test('ETP Cluster: the ToR has one ECMP next hop per node (IPv4 and IPv6); client requests spread over all', async () => {
      await applyService(lab, cluster);
      const [v4, v6] = await addressesOf(lab, cluster.name, 2);
      for (const a of [v4!, v6!]) {
        await waitHops(lab, a, allNodes(lab));
        expectSpreadOver(await spread(lab, a), allNodes(lab));
      }
    }, 120_000);

    unlessOnRealCluster(
      'ETP Local: only nodes with endpoints are next hops and answer, and the set follows endpoint changes',
      async () => {
        await applyService(lab, local);
        const [v4, v6] = await addressesOf(lab, local.name, 2);
        for (const a of [v4!, v6!]) {
          await waitHops(lab, a, nodeNames(lab, [0, 1]));
          expectSpreadOver(await spread(lab, a), nodeNames(lab, [0, 1]));
        }
        await setEndpoints(lab, local, [2]);
        for (const a of [v4!, v6!]) {
          await waitHops(lab, a, nodeNames(lab, [2]));
          expectSpreadOver(await spread(lab, a), nodeNames(lab, [2]));
        }
      },
      120_000,
    );

    test("killing a node's routing daemon removes its next hop; its restart restores it", async () => {
      const [v4, v6] = await addressesOf(lab, cluster.name, 2);
      const victim = lab.plan.nodes[2]!;
      for (const proc of routingDaemonProcesses(lab.plan, victim))
        await waitExited(signalProcess(lab, proc, 'SIGKILL'));
      const others = nodeNames(lab, [0, 1]);
      for (const a of [v4!, v6!]) await waitHops(lab, a, others);
      expectSpreadOver(await spread(lab, v4!), others);
      await restartRoutingDaemon(lab.plan, victim);
      for (const a of [v4!, v6!]) await waitHops(lab, a, allNodes(lab), 60_000);
      for (const a of [v4!, v6!]) await waitStableHops(lab, a, allNodes(lab));
    }, 150_000);

    test('a bad RouterConfig is rejected and changes nothing that worked', async () => {
      const [v4, v6] = await addressesOf(lab, cluster.name, 2);
      const good = labRouterConfig(lab.plan, lab.namespace);
      // admitted by the CRD schema, refused by the validator: communities halves must be <= 65535; OSPF area must be a number
      const bad =
        protocol === 'bgp'
          ? { spec: { bgp: { ...(good.spec.bgp as object), communities: ['99999:1'] } } }
          : { spec: { ospf: { ...(good.spec.ospf as object), area: 'backbone' } } };
      // applied with the lab's field manager, so re-applying the good one removes what the bad one added
      await applyObjects(lab.kc, [{ ...good, spec: { ...good.spec, ...bad.spec } } as typeof good]);
      const rejected = await waitFor(
        'every node to report the RouterConfig as rejected',
        async () => {
          const results = await Promise.all(
            lab.plan.nodes.map(
              async (n) => (await nodeRoutingStatus(lab.kc, lab.namespace, n.name))?.status?.lastReload,
            ),
          );
          return results.every((r) => r?.result === 'Rejected') ? results : undefined;
        },
        30_000,
      );
      expect(rejected[0]!.error).toMatch(/communit|area/);
      for (const a of [v4!, v6!]) expect(await torHops(lab, a)).toEqual(allNodes(lab));
      expectSpreadOver(await spread(lab, v4!), allNodes(lab));
      // restoring the config that never stopped running is a no-op for the daemons
      await applyObjects(lab.kc, [good]);
      for (const a of [v4!, v6!]) expect(await torHops(lab, a)).toEqual(allNodes(lab));
      expectSpreadOver(await spread(lab, v6!), allNodes(lab));
    }, 120_000);

    unlessOnRealCluster(
      "a local address (IPv4 and IPv6) answers ARP/ND from exactly one node, and moves when that node's agent is SIGKILLed",
      async () => {
        const lan = svc('e2e-lan', { group: LOCAL_GROUP });
        await applyService(lab, lan);
        const addrs = await addressesOf(lab, lan.name, 2);
        const owners = await waitFor('the announcing annotations', async () => {
          const s = await readService(lab, lan.name);
          const o = [announcing(s, 4), announcing(s, 6)];
          return o.every(Boolean) ? (o as string[]) : undefined;
        });
        const expectOneOwner = async (family: 0 | 1, owner: string) => {
          expect(await nodesHolding(lab, addrs[family]!)).toEqual([owner]);
          expect(await arpAnswerers(lab, addrs[family]!)).toEqual([owner]);
          expectSpreadOver(await spread(lab, addrs[family]!), [owner]);
        };
        await expectOneOwner(0, owners[0]!);
        await expectOneOwner(1, owners[1]!);

        const victim = owners[0]!;
        await waitExited(signalProcess(lab, `${victim}-agent`, 'SIGKILL'));
        const next = await waitFor(
          'another node to announce the IPv4 address',
          async () => {
            const a = announcing(await readService(lab, lan.name), 4);
            return a && a !== victim ? a : undefined;
          },
          20_000,
        );
        // the new owner's gratuitous ARP repoints the ToR; requests now reach the new owner only
        await waitFor(
          'the ToR to send the address to the new owner',
          async () => (await torNeighbourOwner(lab, addrs[0]!)) === next,
          10_000,
        );
        expectSpreadOver(await spread(lab, addrs[0]!), [next]);
        if (owners[1] === victim) {
          await waitFor(
            'another node to announce the IPv6 address',
            async () => {
              const a = announcing(await readService(lab, lan.name), 6);
              return a && a !== victim;
            },
            20_000,
          );
        }

        // the killed agent comes back (as its DaemonSet would restart it): one node holds each address again
        startAgent(
          lab.plan,
          lab.plan.nodes.find((n) => n.name === victim)!,
          join(labDir(lab.plan.options.name), 'kubeconfig-lbnodeagent'),
          lab.namespace,
        );
        for (const family of [0, 1] as const) {
          const owner = await waitFor(
            `exactly one node to hold ${addrs[family]} after the restart, the one announcing it`,
            async () => {
              const holders = await nodesHolding(lab, addrs[family]!);
              const a = announcing(await readService(lab, lan.name), family === 0 ? 4 : 6);
              return holders.length === 1 && holders[0] === a ? a : undefined;
            },
            30_000,
          );
          await expectOneOwner(family, owner);
        }
        await deleteService(lab, lan);
      },
      150_000,
    );
  });
}
