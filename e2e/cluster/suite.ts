// The real-cluster scenarios, once per shipped way to route (one test file per overlay): `purelb lab up`
// with real kubelets, the product installed from its images and manifests, sample Services in front
// of real pods. Every check looks from outside the nodes: the ToR's FIB, ARP/ND answers on the LAN,
// HTTP requests from the client namespace through kube-proxy to the pods.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { downLab, upLab, type Lab } from '../../src/lab/lab.ts';
import { DEFAULT_OPTIONS, type Daemon } from '../../src/lab/plan.ts';
import { pidOf } from '../../src/lab/components.ts';
import { procDir } from '../../src/lab/ledger.ts';
import { reportFailedLab, testsFailed } from '../../test/harness/failures.ts';
import { run } from '../../src/exec.ts';
import { electWinner } from '../../src/agent/election.ts';
import { HEARTBEAT_PREFIX } from '../../src/model/heartbeat.ts';
import { ECHO_PORT, SAMPLE_NAMESPACE } from '../../src/lab/samples.ts';
import {
  addressesOf,
  allNodes,
  announcing,
  arpAnswerers,
  nodeNames,
  nodesHolding,
  readService,
  spread,
  torForwarding,
  torHops,
  torNeighbourOwner,
  waitFor,
  waitHops,
} from '../harness.ts';
import {
  containerPid,
  kctl,
  savePodLogs,
  startRequestLoop,
  startRouteMonitor,
  tagImageOnNodes,
  unexplainedFailures,
  withdrawalsOf,
} from './harness.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const AGENT_IMAGE = 'docker.io/library/purelb-ts-agent:0.1.0';
/** Where the measured numbers go (docs/lab.md and BENCHMARKS.md quote them). */
const RESULTS_DIR = process.env.PURELB_E2E_RESULTS ?? join(process.cwd(), '.e2e-results');

/** Answers grouped by the node of the pod that answered; every request must have been answered. */
function podNodes(counts: Record<string, number>): string[] {
  expect(counts['(failed)']).toBeUndefined();
  return [...new Set(Object.keys(counts).map((k) => k.split('/')[0]!))].sort();
}

/** Every request answered: a new Service answers once kube-proxy on the nodes has programmed it, which can
 * be after the ToR routes it (GoBGP announces within ~0.2 s). */
function waitAnswered(lab: Lab, address: string, n = 30, timeoutMs = 30_000): Promise<Record<string, number>> {
  return waitFor(
    `every request to ${address} answered`,
    async () => {
      const counts = await spread(lab, address, 80, n);
      if (counts['(failed)']) throw new Error(`${counts['(failed)']} of ${n} failed`);
      return counts;
    },
    timeoutMs,
  );
}

/** Waits until requests to the address are answered by pods on exactly `nodes`: a pod that just became
 * ready may take a moment to be in every node's kube-proxy rules. */
async function waitAnsweredBy(lab: Lab, address: string, nodes: string[]): Promise<void> {
  await waitFor(
    `requests to ${address} answered by pods on ${nodes.join(',')} only`,
    async () => {
      const answers = await spread(lab, address);
      const seen = podNodes(answers);
      if (JSON.stringify(seen) !== JSON.stringify(nodes))
        throw new Error(`answers ${JSON.stringify(answers)}; ${await torForwarding(lab, address)}`);
      return true;
    },
    30_000,
  );
}

function record(daemon: Daemon, scenario: string, result: unknown): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${daemon}-${scenario}.json`), JSON.stringify(result, null, 2));
}

export function clusterSuite(daemon: Daemon): void {
  describe(`real cluster: ${daemon} overlay`, () => {
    let lab: Lab;
    const name = `k${randomBytes(2).toString('hex')}`;
    const log = (m: string) => process.stderr.write(`[${name}] ${m}\n`);

    beforeAll(async () => {
      lab = await upLab({ ...DEFAULT_OPTIONS, name, daemon, protocol: 'bgp', samples: true }, log);
    }, 900_000);

    afterAll(async () => {
      if (lab && testsFailed()) {
        savePodLogs(lab, procDir(name));
        reportFailedLab(name, log);
      }
      await downLab(name, log);
    }, 120_000);

    test('ETP Cluster: one ECMP next hop per node at the ToR (IPv4, IPv6); requests reach pods on every node', async () => {
      for (const a of await addressesOf(lab, 'dual', 2)) {
        await waitHops(lab, a, allNodes(lab));
        await waitAnsweredBy(lab, a, allNodes(lab));
      }
    }, 120_000);

    test("ServiceGroup nodeSelectors: a virtual group's next hops are only the selected nodes and follow a relabel; preferredNodeSelectors: a local group's ARP owner is the preferred node; requests answered", async () => {
      const [n0, n1, n2] = allNodes(lab) as [string, string, string];
      // a LAN address whose plain hash winner is not n0, so the preference is what puts it there
      const local = Array.from({ length: 10 }, (_, i) => `192.168.100.${230 + i}`).find(
        (a) => electWinner(a, allNodes(lab)) !== n0,
      )!;
      await kctl(lab, ['label', 'node', n1, n2, 'purelb.io/e2e-zone=b', '--overwrite']);
      await kctl(lab, ['label', 'node', n0, 'purelb.io/e2e-rack=r1', '--overwrite']);
      const group = (name: string, pool: string, subnet: string, extra: object) => ({
        apiVersion: 'purelb.io/v1',
        kind: 'ServiceGroup',
        metadata: { name, namespace: 'purelb' },
        spec: { local: { v4pools: [{ subnet, pool, aggregation: '/32' }] }, ...extra },
      });
      const service = (name: string, ann: Record<string, string>) => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: SAMPLE_NAMESPACE, annotations: ann },
        spec: {
          type: 'LoadBalancer',
          selector: { app: 'echo' },
          ports: [{ name: 'http', port: 80, targetPort: ECHO_PORT, protocol: 'TCP' }],
        },
      });
      const file = join(RESULTS_DIR, `${daemon}-selectors-objects.json`); // (the results go to ${daemon}-selectors.json)
      mkdirSync(RESULTS_DIR, { recursive: true });
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            group('e2e-zone-b', '10.203.0.0/29', '10.203.0.0/24', {
              nodeSelectors: [{ matchLabels: { 'purelb.io/e2e-zone': 'b' } }],
            }),
            group('e2e-rack-r1', `${local}/32`, '192.168.100.0/24', {
              preferredNodeSelectors: [{ matchExpressions: [{ key: 'purelb.io/e2e-rack', operator: 'Exists' }] }],
            }),
            service('sel-virtual', { 'purelb.io/service-group': 'e2e-zone-b' }),
            service('sel-local', { 'purelb.io/service-group': 'e2e-rack-r1' }),
          ],
        }),
      );
      // the groups first: an agent publishes a label in its heartbeat Lease only once a selector reads it, and
      // the preference applies when an address gets its first owner, so the Services wait for n0's label
      const groups = join(RESULTS_DIR, `${daemon}-selectors-groups.json`);
      const all = JSON.parse(readFileSync(file, 'utf8')) as { items: Array<{ kind: string }> };
      writeFileSync(groups, JSON.stringify({ ...all, items: all.items.filter((o) => o.kind === 'ServiceGroup') }));
      await kctl(lab, ['apply', '-f', groups]);
      await waitFor(`${n0}'s heartbeat Lease publishes its rack label`, async () =>
        (await kctl(lab, ['-n', 'purelb', 'get', 'lease', HEARTBEAT_PREFIX + n0, '-o', 'json'])).includes(
          'purelb.io/e2e-rack',
        ),
      );
      await kctl(lab, ['apply', '-f', file]);
      const [virtual] = await addressesOf(lab, 'sel-virtual', 1);
      await waitHops(lab, virtual!, [n1, n2].sort(), 90_000);
      expect(podNodes(await waitAnswered(lab, virtual!))).toEqual(allNodes(lab)); // kube-proxy forwards to every pod
      expect(await addressesOf(lab, 'sel-local', 1)).toEqual([local]);
      await waitFor(`${local} held by ${n0} only`, async () => (await nodesHolding(lab, local)).join() === n0, 60_000);
      expect(await arpAnswerers(lab, local)).toEqual([n0]);
      expect(announcing(await readService(lab, 'sel-local'), 4)).toBe(n0);
      expect(podNodes(await waitAnswered(lab, local))).toEqual(allNodes(lab));
      // n2 leaves zone b: its route goes, n1 alone carries the group
      await kctl(lab, ['label', 'node', n2, 'purelb.io/e2e-zone-']);
      await waitHops(lab, virtual!, [n1], 60_000);
      await waitAnsweredBy(lab, virtual!, allNodes(lab));
      record(daemon, 'selectors', {
        virtual,
        hops: await torHops(lab, virtual!),
        local,
        arp: await arpAnswerers(lab, local),
      });
      await kctl(lab, ['delete', '-f', file]);
      await kctl(lab, ['label', 'node', n1, 'purelb.io/e2e-zone-']);
      await kctl(lab, ['label', 'node', n0, 'purelb.io/e2e-rack-']);
    }, 300_000);

    test('ETP Local: next hops follow the real endpoints as the Deployment moves and scales', async () => {
      const addrs = await addressesOf(lab, 'web-local', 2);
      const check = async (nodes: string[]) => {
        for (const a of addrs) {
          await waitHops(lab, a, nodes, 90_000);
          // with ETP Local kube-proxy only forwards to pods of the node the request reached
          await waitAnsweredBy(lab, a, nodes);
        }
      };
      await check(nodeNames(lab, [0, 1]));
      const move = async (nodes: string[]) => {
        const patch = {
          spec: {
            replicas: nodes.length,
            template: {
              spec: {
                affinity: {
                  nodeAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: {
                      nodeSelectorTerms: [
                        { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodes }] },
                      ],
                    },
                  },
                },
              },
            },
          },
        };
        await kctl(lab, ['patch', 'deployment', 'echo-web-local', '--type=merge', '-p', JSON.stringify(patch)]);
        await kctl(lab, ['rollout', 'status', 'deployment/echo-web-local', '--timeout=90s'], 100_000);
      };
      await move(nodeNames(lab, [2]));
      await check(nodeNames(lab, [2]));
      await move(nodeNames(lab, [1, 2]));
      await check(nodeNames(lab, [1, 2]));
    }, 400_000);

    test("a local address moves when its node's agent is SIGKILLed; afterwards exactly one node holds it", async () => {
      const addrs = await addressesOf(lab, 'lan-web', 2);
      const owner = await waitFor('the announcing annotation', async () =>
        announcing(await readService(lab, 'lan-web'), 4),
      );
      expect(await nodesHolding(lab, addrs[0]!)).toEqual([owner]);
      expect(await arpAnswerers(lab, addrs[0]!)).toEqual([owner]);
      // The kubelet restarts a killed container at once; an agent back within --owner-dead-after rightly
      // keeps its addresses (nothing to take over), so whether anything moved would be a race with the
      // kubelet. Pausing it makes the agent stay dead, as after a crash loop or an OOM kill.
      const kubelet = pidOf(lab.plan.options.name, `${owner}-kubelet`)!;
      process.kill(kubelet, 'SIGSTOP');
      const killed = await containerPid(lab, owner, 'lbnodeagent');
      let successor: string;
      try {
        process.kill(killed, 'SIGKILL');
        successor = await waitFor(
          'another node to announce the IPv4 address',
          async () => {
            const a = announcing(await readService(lab, 'lan-web'), 4);
            return a && a !== owner ? a : undefined;
          },
          30_000,
        );
      } finally {
        process.kill(kubelet, 'SIGCONT');
      }
      // the kubelet restarts the killed container and its startup sweep removes what the dead agent left
      // (if the address lifetime had not already): then exactly one node holds each address, answers
      // ARP/ND for it, and the ToR sends it there; the restarted agent takes nothing back
      await waitFor(
        `the restarted agent on ${owner}`,
        async () => ![0, killed].includes(await containerPid(lab, owner, 'lbnodeagent').catch(() => 0)),
        60_000,
      );
      for (const [i, a] of addrs.entries()) {
        const holder = await waitFor(
          `exactly one node to hold ${a}, the one announcing it`,
          async () => {
            const holders = await nodesHolding(lab, a);
            const ann = announcing(await readService(lab, 'lan-web'), i === 0 ? 4 : 6);
            return holders.length === 1 && holders[0] === ann ? ann : undefined;
          },
          60_000,
        );
        expect(await arpAnswerers(lab, a)).toEqual([holder]);
        if (i === 0) expect(holder).toBe(successor);
        // where the ToR sends the address right then (a wrong entry heals through neighbour probing)
        if (i === 0) record(daemon, 'sigkill-local', { holder, torNeighbour: await torNeighbourOwner(lab, a) });
        await waitAnswered(lab, a, 10);
      }
    }, 180_000);

    test('a rolling update of the agent DaemonSet to a new image tag withdraws no route and fails no request', async () => {
      const dual = await addressesOf(lab, 'dual', 2);
      const lan = await addressesOf(lab, 'lan-web', 2);
      for (const a of dual) await waitHops(lab, a, allNodes(lab));
      const monitor = startRouteMonitor(lab);
      const loop = startRequestLoop(
        lab,
        [...dual, ...lan].map((address) => ({ address, port: 80 })),
      );
      const newImage = `${AGENT_IMAGE}-e2e`;
      await tagImageOnNodes(lab, AGENT_IMAGE, newImage);
      const started = Date.now();
      // the routing daemons are DaemonSets of their own (deploy/bird, deploy/frr, deploy/gobgp): untouched
      await kctl(lab, ['-n', 'purelb', 'set', 'image', 'daemonset/lbnodeagent', `*=${newImage}`]);
      await kctl(lab, ['-n', 'purelb', 'rollout', 'status', 'daemonset/lbnodeagent', '--timeout=300s'], 310_000);
      const rolloutMs = Date.now() - started;
      await sleep(5000);
      const requests = await loop.stop();
      const events = await monitor.stop();
      const withdrawals = (await Promise.all(dual.map((a) => withdrawalsOf(lab, events, a, allNodes(lab))))).flat();
      record(daemon, 'rolling-update', { rolloutMs, requests, withdrawals, routeEvents: events.length });
      expect(withdrawals).toEqual([]);
      expect(requests.failures).toEqual([]);
      expect(requests.total).toBeGreaterThan(100);
    }, 420_000);

    test('kubectl drain, then the node stops: no failed request; its routes and local addresses are gone before it stops forwarding', async () => {
      const dual = await addressesOf(lab, 'dual', 2);
      const lan = await addressesOf(lab, 'lan-web', 2);
      // take out the node that owns the local IPv4 address, so the hand-over is part of the test
      const victim = await waitFor('the announcing annotation', async () =>
        announcing(await readService(lab, 'lan-web'), 4),
      );
      const others = allNodes(lab).filter((n) => n !== victim);
      for (const a of dual) await waitHops(lab, a, allNodes(lab));
      const loop = startRequestLoop(
        lab,
        [...dual, ...lan].map((address) => ({ address, port: 80 })),
      );
      const started = Date.now();
      await kctl(lab, ['drain', victim, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=120s'], 130_000);
      const drainedMs = Date.now() - started;
      for (const a of dual) expect(await torHops(lab, a)).not.toContain(victim);
      const routesGoneMs = Date.now() - started;
      for (const a of lan)
        await waitFor(`${a} to leave ${victim}`, async () => !(await nodesHolding(lab, a)).includes(victim), 30_000);
      const localGoneMs = Date.now() - started;
      // the node stops: kubelet and the agent get SIGTERM, then it stops forwarding
      const kubelet = pidOf(lab.plan.options.name, `${victim}-kubelet`)!;
      process.kill(await containerPid(lab, victim, 'lbnodeagent'), 'SIGTERM');
      process.kill(kubelet, 'SIGTERM');
      await sleep(3000);
      const node = lab.plan.nodes.find((n) => n.name === victim)!;
      await run('ip', ['-n', node.netns, 'link', 'set', 'eth0', 'down']);
      const stoppedMs = Date.now() - started;
      await sleep(5000);
      const requests = await loop.stop();
      for (const a of dual) expect(await torHops(lab, a)).toEqual(others);
      record(daemon, 'drain', { drainedMs, routesGoneMs, localGoneMs, stoppedMs, requests });
      // every URL's path moved: the victim's routes left the ToR, its local address went to another node
      expect(unexplainedFailures(requests.failures, loop.urls)).toEqual([]);
    }, 300_000);
  });
}
