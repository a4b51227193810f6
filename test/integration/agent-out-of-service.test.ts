// Out of service: three real agents in network namespaces against the real apiserver, with Node objects
// for them. Cordoning a node (what `kubectl drain` does first) or labelling it
// node.kubernetes.io/exclude-from-external-load-balancers takes every virtual address off its kube-lb0,
// hands its local address to exactly one other node and marks its heartbeat Lease out of service (never
// live, so peers report it as excluded), while the agent keeps running; uncordoning / removing the label
// brings it back. An agent started on a cordoned node never writes a live heartbeat nor places an address.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  Watch,
  type KubeConfig,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import { electWinner } from '../../src/agent/election.ts';
import { parseIpAddrJson } from '../../src/agent/interfaces.ts';
import { EXCLUDE_LB_LABEL } from '../../src/agent/out-of-service.ts';
import { isLive, OUT_OF_SERVICE_ANNOTATION, parseHeartbeat } from '../../src/model/heartbeat.ts';
import { cleanUpNamespaces, mergePatch, waitFor } from '../harness/kube.ts';
import {
  agentTestArgs,
  agentLogTail,
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
let a: LanNode;
const createdNodes: string[] = [];
const execFileAsync = promisify(execFile);

const VIRTUAL = '10.210.0.20';
let local = '';
const names = () => lan.nodes.map((n) => n.name);
const others = () => names().filter((n) => n !== a.name);

const patchNode = (name: string, body: Partial<V1Node>) => core.patchNode({ name, body }, mergePatch);
/** The node's heartbeat Lease as its peers read it: absent, live, or marked out of service. */
const leaseOf = (name: string): Promise<'none' | 'live' | 'marked' | 'expired'> =>
  kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: `purelb-node-${name}`, namespace: install })
    .then(
      (lease) => {
        const h = parseHeartbeat(lease);
        return h?.outOfService ? 'marked' : h && isLive(h, Date.now()) ? 'live' : 'expired';
      },
      (err: { code?: number }) => {
        if (err.code === 404) return 'none';
        throw err;
      },
    );
const nodeEvents = async (name: string, reason: string) =>
  (await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'default' })).items.filter(
    (e) => e.regarding?.kind === 'Node' && e.regarding.name === name && e.reason === reason,
  );
const metric = (n: LanNode, name: string) => {
  // every series carries node="..." (the dashboards group by it): drop it to match on the other labels
  const text = execFileSync('ip', ['netns', 'exec', n.netns, 'curl', '-s', 'http://127.0.0.1:7473/metrics'])
    .toString()
    .replace(/node="[^"]*",?/g, '')
    .replace(/,\}/g, '}')
    .replace(/\{\}/g, '');
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
};
const logs = () => lan.nodes.map((n) => `--- ${n.name}\n${agentLogTail(n, 12)}`).join('\n');

/**
 * Samples the holders of the local address every few ms; the most nodes that held it at once. Without
 * blocking: this process also relays the agents' apiserver connections (agent-lan.ts).
 */
function sampleHolders(ip: string): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const holds = async (n: LanNode) => {
    const { stdout } = await execFileAsync('ip', ['-n', n.netns, '-json', 'addr', 'show', 'dev', 'eth0']);
    return parseIpAddrJson(stdout).some((l) => l.addrs.some((x) => x.ip === ip));
  };
  const done = (async () => {
    while (running) {
      max = Math.max(max, (await Promise.all(lan.nodes.map(holds))).filter(Boolean).length);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return { stop: async () => ((running = false), await done, max) };
}

/** Everything out of service looks like on `a`, everything else still in service. */
async function expectOutOfService(cause: string): Promise<void> {
  await waitFor(
    `${VIRTUAL} gone from ${a.name}'s kube-lb0 only (${cause})`,
    async () => holderNames(lan, VIRTUAL, 'kube-lb0').join() === others().join(),
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logs()}`);
  });
  await waitForSingleHolder(lan, local, electWinner(local, others())!, 10_000);
  await waitFor(`${a.name}'s heartbeat Lease marked out of service`, async () => (await leaseOf(a.name)) === 'marked');
  expect(a.agent?.exitCode).toBeNull(); // still running: kube-proxy and the agent keep going until the node stops
  expect(metric(a, 'purelb_agent_out_of_service')).toBe(1);
  expect(metric(a, 'purelb_agent_addresses_announced\\{kind="virtual"\\}')).toBe(0);
  expect(metric(a, 'purelb_agent_fenced')).toBe(0);
}

async function expectBackInService(): Promise<void> {
  await waitFor(
    `${VIRTUAL} back on every kube-lb0`,
    async () => holderNames(lan, VIRTUAL, 'kube-lb0').join() === names().sort().join(),
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logs()}`);
  });
  await waitFor(`${a.name}'s heartbeat Lease live again`, async () => (await leaseOf(a.name)) === 'live');
  // `a` is the hash winner, but the node that took the address over keeps it: nothing moves back
  await new Promise((r) => setTimeout(r, 1500));
  expect(holderNames(lan, local, 'eth0')).toEqual([electWinner(local, others())]);
  expect(metric(a, 'purelb_agent_out_of_service')).toBe(0);
}

beforeAll(async () => {
  let custom: CustomObjectsApi;
  ({ kc, core, custom, install, apps } = await agentTestSetup({ sendgarp: true }));
  await createServiceGroup(custom, install, 'virt', {
    local: { v4pools: [{ subnet: '10.210.0.0/24', pool: '10.210.0.0/24', aggregation: '/32' }] },
  });
  lan = await createLan(3, Number(new URL(kc.getCurrentCluster()!.server).port), { uniqueNames: true });
  for (const n of lan.nodes) {
    await core.createNode({ body: { metadata: { name: n.name } } });
    createdNodes.push(n.name);
  }
  a = lan.nodes[0]!;
  // a local address that `a` wins, so taking `a` out of service must move it
  local = Array.from({ length: 50 }, (_, i) => `${LAN_V4}.${150 + i}`).find(
    (ip) => electWinner(ip, names()) === a.name,
  )!;
  agentArgs = agentTestArgs(install);
  await startAgentsAndWait(lan, kc, install, agentArgs);
  await createBrandedService(core, apps, 'virtual', [VIRTUAL], { group: 'virt' });
  await createBrandedService(core, apps, 'local', [local]);
  await waitFor(`${VIRTUAL} on every kube-lb0`, async () => holderNames(lan, VIRTUAL, 'kube-lb0').length === 3);
  await waitForSingleHolder(lan, local, a.name);
}, 90_000);

afterAll(async () => {
  await lan?.destroy();
  await cleanUpNamespaces();
  for (const name of createdNodes) await core.deleteNode({ name }).catch(() => undefined);
});

describe('a node out of service', () => {
  // each test starts in service, also after a failed one, with `a` holding the local address: a Service
  // created anew has no current owner, so the hash winner `a` takes it
  beforeEach(async () => {
    await patchNode(a.name, {
      spec: { unschedulable: false },
      metadata: { labels: { [EXCLUDE_LB_LABEL]: null } },
    } as unknown as Partial<V1Node>);
    if (holderNames(lan, local, 'eth0').join() !== a.name) {
      await core.deleteNamespacedService({ name: 'local', namespace: apps });
      await waitFor(`${local} withdrawn`, async () => holderNames(lan, local, 'eth0').length === 0);
      await createBrandedService(core, apps, 'local', [local]);
    }
    await waitForSingleHolder(lan, local, a.name);
  });

  test('cordoned: no virtual address on its kube-lb0, its local address on exactly one other node, its Lease marked; uncordoned: back', async () => {
    const sampler = sampleHolders(local);
    const started = Date.now();
    await patchNode(a.name, { spec: { unschedulable: true } });
    await expectOutOfService('cordoned');
    const maxHolders = await sampler.stop();
    expect(maxHolders).toBe(1); // handed over like at shutdown: never two owners
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(
      'an OutOfService event on the Node',
      async () => (await nodeEvents(a.name, 'OutOfService')).length === 1,
    );
    expect((await nodeEvents(a.name, 'OutOfService'))[0]!.note).toMatch(
      // (other test files' Services may be placed here too: at least ours)
      new RegExp(
        `^node ${a.name} is out of service because it is cordoned \\(spec\\.unschedulable\\): withdrew [1-9]\\d* virtual and [1-9]\\d* local addresses`,
      ),
    );
    // one Node event instead of a Withdrawn event on every Service
    const serviceEvents = (await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: apps })).items;
    expect(serviceEvents.filter((e) => e.reason === 'Withdrawn' && e.note?.startsWith(`node ${a.name} `))).toEqual([]);

    // nothing comes back while it stays cordoned (resyncs and Service changes included)
    await createBrandedService(core, apps, 'later', ['10.210.0.21'], { group: 'virt' });
    await waitFor(
      'the new Service on the other nodes',
      async () => holderNames(lan, '10.210.0.21', 'kube-lb0').join() === others().join(),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(holderNames(lan, '10.210.0.21', 'kube-lb0')).not.toContain(a.name);
    expect(await leaseOf(a.name)).toBe('marked');

    await patchNode(a.name, { spec: { unschedulable: false } });
    await expectBackInService();
    expect(holderNames(lan, '10.210.0.21', 'kube-lb0')).toContain(a.name);
    await waitFor(
      'a BackInService event on the Node',
      async () => (await nodeEvents(a.name, 'BackInService')).length === 1,
    );
    await core.deleteNamespacedService({ name: 'later', namespace: apps });
  }, 60_000);

  test(`labelled ${EXCLUDE_LB_LABEL}: the same; the value "false" keeps it in service`, async () => {
    await waitForSingleHolder(lan, local, a.name); // the state the test starts from
    await patchNode(a.name, { metadata: { labels: { [EXCLUDE_LB_LABEL]: 'false' } } });
    await new Promise((r) => setTimeout(r, 1500));
    expect(holderNames(lan, VIRTUAL, 'kube-lb0')).toContain(a.name);
    expect(await leaseOf(a.name)).toBe('live');

    const sampler = sampleHolders(local);
    await patchNode(a.name, { metadata: { labels: { [EXCLUDE_LB_LABEL]: '' } } });
    await expectOutOfService('exclude label');
    expect(await sampler.stop()).toBe(1);
    await waitFor('a second OutOfService event naming the label', async () =>
      (await nodeEvents(a.name, 'OutOfService')).some((e) =>
        e.note?.includes(`because it has the label ${EXCLUDE_LB_LABEL}:`),
      ),
    );

    await patchNode(a.name, { metadata: { labels: { [EXCLUDE_LB_LABEL]: null } } } as unknown as Partial<V1Node>);
    await expectBackInService();
  }, 60_000);

  test('an agent started on a cordoned node writes no live heartbeat and places nothing, then comes back when uncordoned', async () => {
    await waitForSingleHolder(lan, local, a.name);
    await patchNode(a.name, { spec: { unschedulable: true } });
    await expectOutOfService('cordoned');
    await lan.stopAgent(a, 'SIGTERM');
    expect(a.agent?.exitCode).toBe(0);
    const monitor = spawn('ip', ['-n', a.netns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    monitor.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const beforeStart = (await coordination.listNamespacedLease({ namespace: install })).metadata?.resourceVersion;
    try {
      await lan.startAgent(a, agentArgs);
      await waitFor(
        'the restarted agent ready',
        async () =>
          execFileSync('ip', ['netns', 'exec', a.netns, 'curl', '-s', 'http://127.0.0.1:7473/readyz']).toString() ===
          'ok\n',
        20_000,
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(seen.split('\n').filter((l) => l.includes(VIRTUAL) || l.includes(`${local}/`))).toEqual([]);
      expect(await leaseOf(a.name)).toBe('marked');
      // not even briefly live: replaying the Lease watch from before the restart shows `a`'s Lease only
      // ever written with the mark
      const watched: string[] = [];
      const request = await new Watch(kc).watch(
        `/apis/coordination.k8s.io/v1/namespaces/${install}/leases`,
        { resourceVersion: beforeStart, fieldSelector: `metadata.name=purelb-node-${a.name}` },
        (type: string, obj: V1Lease) =>
          watched.push(`${type} ${obj.metadata?.annotations?.[OUT_OF_SERVICE_ANNOTATION] ? 'marked' : 'unmarked'}`),
        () => undefined,
      );
      await new Promise((r) => setTimeout(r, 1000));
      request.abort();
      expect(watched).toEqual(['ADDED marked']);
    } finally {
      monitor.kill('SIGKILL');
    }
    await patchNode(a.name, { spec: { unschedulable: false } });
    await expectBackInService();
  }, 60_000);
});
