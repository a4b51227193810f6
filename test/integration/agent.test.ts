// Three node agents as real child processes in three network namespaces on one bridged LAN, against
// the real apiserver: election of local addresses with GARP/NA, failover on SIGKILL, handover on
// SIGTERM, self-fencing when cut off from the apiserver, virtual addresses with ETP Cluster/Local
// following EndpointSlices, removal on Service deletion, startup sweep and no flap on restart.

import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import { ANN } from '../../src/api/annotations.ts';
import { electWinner } from '../../src/agent/election.ts';
import { heartbeatLabels } from '../../src/model/heartbeat.ts';
import { cleanUpNamespaces, waitFor } from '../harness/kube.ts';
import {
  agentTestArgs,
  agentTestSetup,
  createBrandedService,
  createLan,
  createServiceGroup,
  holderNames as lanHolderNames,
  LAN_V4,
  LAN_V6,
  startAgentsAndWait,
  waitForSingleHolder as lanWaitForSingleHolder,
  type Lan,
  type LanNode,
} from './agent-lan.ts';

let kc: KubeConfig;
let core: CoreV1Api;
let lan: Lan;
let install: string;
let apps: string;
let agentArgs: string[];

const names = () => lan.nodes.map((n) => n.name);
const node = (name: string) => lan.nodes.find((n) => n.name === name)!;
const holders = (ip: string, ifname: string) =>
  lan.nodes.filter((n) => lan.addresses(n, ifname).some((a) => a.ip === ip));
const holderNames = (ip: string, ifname: string) => lanHolderNames(lan, ip, ifname);

const createService = (name: string, ips: string[], opts: { etpLocal?: boolean; group?: string } = {}) =>
  createBrandedService(core, apps, name, ips, opts);

async function setEndpoints(
  service: string,
  endpoints: Array<{ node: string; ready: boolean; serving?: boolean }>,
): Promise<void> {
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const body: V1EndpointSlice = {
    metadata: { name: `${service}-slice`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ port: 8080, protocol: 'TCP' }],
    endpoints: endpoints.map((e, i) => ({
      addresses: [`10.244.${i}.10`],
      nodeName: e.node,
      conditions: { ready: e.ready, serving: e.serving ?? e.ready },
    })),
  };
  try {
    const current = await discovery.readNamespacedEndpointSlice({ name: body.metadata!.name!, namespace: apps });
    body.metadata!.resourceVersion = current.metadata!.resourceVersion;
    await discovery.replaceNamespacedEndpointSlice({ name: body.metadata!.name!, namespace: apps, body });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await discovery.createNamespacedEndpointSlice({ namespace: apps, body });
  }
}

const annotation = async (service: string, key: string) =>
  (await core.readNamespacedService({ name: service, namespace: apps })).metadata?.annotations?.[key];

const startAgents = (nodes: LanNode[] = lan.nodes) => startAgentsAndWait(lan, kc, install, agentArgs, nodes);
const waitForSingleHolder = (ip: string, expected: string, timeoutMs?: number) =>
  lanWaitForSingleHolder(lan, ip, expected, timeoutMs);

beforeAll(async () => {
  let custom: CustomObjectsApi;
  ({ kc, core, custom, install, apps } = await agentTestSetup({ sendgarp: true }));
  for (const [name, subnet, aggregation] of [
    ['virt', '10.200.0.0/24', 'default'],
    ['hosts', '10.201.0.0/24', '/32'],
    ['default', `${LAN_V4}.0/24`, 'default'],
  ] as const) {
    await createServiceGroup(custom, install, name, { local: { v4pools: [{ subnet, pool: subnet, aggregation }] } });
  }
  const apiPort = Number(new URL(kc.getCurrentCluster()!.server).port);
  lan = await createLan(3, apiPort);
  // SIGTERM hands over at once unless a test asks for the restart grace
  agentArgs = agentTestArgs(install, '--restart-grace=0s');
  await startAgents();
}, 90_000);

afterAll(async () => {
  await lan?.destroy();
  await cleanUpNamespaces();
});

describe('local addresses', () => {
  test('land on exactly one node (the rendezvous winner), which records itself and sends GARP and NA', async () => {
    const v4 = `${LAN_V4}.200`;
    const v6 = `${LAN_V6}200`;
    await createService('web', [v4, v6]);
    const w4 = electWinner(v4, names())!;
    const w6 = electWinner(v6, names())!;
    await waitForSingleHolder(v4, w4);
    await waitForSingleHolder(v6, w6);
    expect(lan.addresses(node(w4), 'eth0').find((a) => a.ip === v4)?.prefix).toBe(24);
    expect(lan.addresses(node(w6), 'eth0').find((a) => a.ip === v6)?.prefix).toBe(64);
    await waitFor(
      'announcing annotations',
      async () =>
        (await annotation('web', ANN.announcingIPv4)) === `${w4},eth0` &&
        (await annotation('web', ANN.announcingIPv6)) === `${w6},eth0`,
    );
    // the LAN learnt the owners' MACs without ever asking: gratuitous ARP and unsolicited NA arrived
    await waitFor('GARP seen on the LAN', async () => lan.neighbour(v4) === node(w4).mac);
    await waitFor('unsolicited NA seen on the LAN', async () => lan.neighbour(v6) === node(w6).mac);
    // each winner writes an AnnouncingLocal event naming its address; the agent writes events in the
    // background, one at a time, so they may land after the address and the annotation
    const announcing = async () =>
      (await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: apps })).items
        .filter((e) => e.regarding?.name === 'web' && e.reason === 'AnnouncingLocal')
        .map((e) => e.note ?? '');
    const everyWinnerTold = (notes: string[]) =>
      (
        [
          [w4, v4],
          [w6, v6],
        ] as const
      ).every(([w, ip]) => notes.some((n) => n.startsWith(`node ${w} announces `) && n.includes(`${ip} on eth0`)));
    await waitFor('an AnnouncingLocal event from each winner', async () => everyWinnerTold(await announcing())).catch(
      async (err: Error) => {
        throw new Error(`${err.message}; events: ${JSON.stringify(await announcing())}`);
      },
    );
    // and it stays that way: nobody else adds it
    await new Promise((r) => setTimeout(r, 1500));
    expect(holderNames(v4, 'eth0')).toEqual([w4]);
    expect(holderNames(v6, 'eth0')).toEqual([w6]);
    // one event per announcing node, not one per reconcile
    expect(await announcing()).toHaveLength(new Set([w4, w6]).size);
  });

  test('SIGKILL of the winner moves the address to the next node; the restarted agent takes nothing back', async () => {
    const ip = `${LAN_V4}.202`;
    await createService('kill', [ip]);
    const first = electWinner(ip, names())!;
    await waitForSingleHolder(ip, first);
    await lan.stopAgent(node(first), 'SIGKILL');
    const second = electWinner(
      ip,
      names().filter((n) => n !== first),
    )!;
    await waitFor(`${ip} on ${second} after the kill`, async () => holderNames(ip, 'eth0').includes(second), 15_000);
    await waitFor('GARP of the new owner', async () => lan.neighbour(ip) === node(second).mac);
    await waitFor(
      'annotation names the new owner',
      async () => (await annotation('kill', ANN.announcingIPv4)) === `${second},eth0`,
    );
    // the restarted agent finds the address it left on eth0 and removes it: the current owner keeps it
    await startAgents([node(first)]);
    await waitForSingleHolder(ip, second);
    await new Promise((r) => setTimeout(r, 1500));
    expect(holderNames(ip, 'eth0')).toEqual([second]);
  });

  test('SIGTERM withdraws, deletes the heartbeat Lease and hands over', async () => {
    const ip = `${LAN_V4}.203`;
    await createService('term', [ip]);
    const first = electWinner(ip, names())!;
    await waitForSingleHolder(ip, first);
    await lan.stopAgent(node(first), 'SIGTERM');
    expect(node(first).agent?.exitCode).toBe(0);
    expect(holderNames(ip, 'eth0')).not.toContain(first);
    await expect(
      kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: `purelb-node-${first}`, namespace: install }),
    ).rejects.toMatchObject({ code: 404 });
    const second = electWinner(
      ip,
      names().filter((n) => n !== first),
    )!;
    await waitForSingleHolder(ip, second, 5000);
    await startAgents([node(first)]);
    await new Promise((r) => setTimeout(r, 1500)); // the returning node takes nothing back
    expect(holderNames(ip, 'eth0')).toEqual([second]);
  });

  test('SIGTERM with a restart grace (rolling update): addresses and Lease stay, the next agent takes over with nothing moved', async () => {
    const ip = `${LAN_V4}.209`; // (.206 is the 'gone' test's)
    const first = electWinner(ip, names())!;
    // this agent is restarted with the product's default restart grace, 30 s, before the Service exists
    // (a restart without grace would hand a held address over for good). (The agent started 4 s into the
    // grace below must renew the Lease before the grace runs out, or the peers rightly re-elect: from
    // spawn to its first Lease write takes about 1.3 s here, 5 s on overloaded CPUs.)
    await lan.stopAgent(node(first), 'SIGTERM');
    await lan.startAgent(node(first), [
      ...agentArgs.filter((a) => !a.startsWith('--restart-grace')),
      '--restart-grace=30s',
    ]);
    await waitFor(
      `${first}'s restarted agent ready`,
      async () =>
        execFileSync('ip', [
          'netns',
          'exec',
          node(first).netns,
          'curl',
          '-s',
          'http://127.0.0.1:7473/readyz',
        ]).toString() === 'ok\n',
    );
    await createService('grace', [ip]);
    await waitForSingleHolder(ip, first);
    await waitFor(
      `${first}'s agent ready`,
      async () =>
        execFileSync('ip', [
          'netns',
          'exec',
          node(first).netns,
          'curl',
          '-s',
          'http://127.0.0.1:7473/readyz',
        ]).toString() === 'ok\n',
    );
    await new Promise((r) => setTimeout(r, 1000));
    const seen = new Set<string>();
    let started = false;
    const sampler = setInterval(() => holderNames(ip, 'eth0').forEach((n) => seen.add(n)), 20);
    try {
      await lan.stopAgent(node(first), 'SIGTERM');
      expect(node(first).agent?.exitCode).toBe(0);
      const lease = await kc
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: `purelb-node-${first}`, namespace: install });
      expect(lease.spec?.leaseDurationSeconds).toBe(30);
      // no agent on the node for 4 s: longer than the 3 s heartbeat, and still nobody else takes the address
      await new Promise((r) => setTimeout(r, 4000));
      expect(holderNames(ip, 'eth0')).toEqual([first]);
      await startAgents([node(first)]);
      started = true;
      await waitFor(
        'the new agent renews the Lease with the normal duration',
        async () =>
          (
            await kc
              .makeApiClient(CoordinationV1Api)
              .readNamespacedLease({ name: `purelb-node-${first}`, namespace: install })
          ).spec?.leaseDurationSeconds === 3,
      );
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      clearInterval(sampler);
      // the next tests need every node's agent
      if (!started) await startAgents([node(first)]);
    }
    expect([...seen]).toEqual([first]);
    expect(await annotation('grace', ANN.announcingIPv4)).toBe(`${first},eth0`);
  });

  test('an agent cut off from the apiserver withdraws (self-fencing) while another node takes over', async () => {
    const ip = `${LAN_V4}.204`;
    await createService('cut', [ip]);
    const first = electWinner(ip, names())!;
    await waitForSingleHolder(ip, first);
    // the owner is on record before the cut (a record still in flight would land at the reconnect)
    await waitFor(
      'the annotation names the owner',
      async () => (await annotation('cut', ANN.announcingIPv4)) === `${first},eth0`,
    );
    lan.cutOff(node(first));
    const second = electWinner(
      ip,
      names().filter((n) => n !== first),
    )!;
    let reconnectedAt = 0;
    try {
      await waitForSingleHolder(ip, second);
      // still alive, just fenced
      expect(node(first).agent?.exitCode).toBeNull();
    } finally {
      lan.reconnect(node(first));
      reconnectedAt = Date.now();
    }
    // live again (its Lease renewed after the reconnect), it takes nothing back from the current owner
    await waitFor(
      `${first}'s heartbeat renewed after the reconnect`,
      async () => {
        const lease = await kc
          .makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ name: `purelb-node-${first}`, namespace: install });
        return new Date(lease.spec?.renewTime as unknown as string).getTime() > reconnectedAt;
      },
      20_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(holderNames(ip, 'eth0')).toEqual([second]);
  });
});

describe('startup and observability', () => {
  test('a local address left by a killed agent for a Service deleted meanwhile is removed at restart; foreign addresses stay', async () => {
    const ip = `${LAN_V4}.208`;
    await createService('left', [ip]);
    const owner = node(electWinner(ip, names())!);
    await waitForSingleHolder(ip, owner.name);
    await lan.stopAgent(owner, 'SIGKILL');
    execIp(owner.netns, 'addr', 'add', `${LAN_V4}.99/24`, 'dev', 'eth0'); // an operator's address
    await core.deleteNamespacedService({ name: 'left', namespace: apps });
    expect(lan.addresses(owner, 'eth0').some((a) => a.ip === ip)).toBe(true); // nobody was there to remove it
    await startAgents([owner]);
    await waitFor(
      `${ip} removed from ${owner.name} at startup`,
      async () => !lan.addresses(owner, 'eth0').some((a) => a.ip === ip),
    );
    expect(lan.addresses(owner, 'eth0').some((a) => a.ip === `${LAN_V4}.99`)).toBe(true);
  });

  test('/readyz, /healthz and /metrics answer on the health port', async () => {
    const n = lan.nodes[0]!;
    const get = (path: string) =>
      execFileSync('ip', [
        'netns',
        'exec',
        n.netns,
        'curl',
        '-s',
        '-w',
        ' %{http_code}',
        `http://127.0.0.1:7473${path}`,
      ]).toString();
    await waitFor('ready', async () => get('/readyz') === 'ok\n 200');
    expect(get('/healthz')).toBe('ok\n 200');
    const metrics = get('/metrics');
    // every series names its node (the dashboard and the alerts group by it)
    expect(metrics).toContain(`purelb_agent_addresses_announced{kind="virtual",node="${n.name}"} `);
    expect(metrics).toMatch(new RegExp(`purelb_agent_reconcile_duration_seconds_count\\{node="${n.name}"\\} [1-9]`));
    expect(metrics).toContain(`purelb_agent_fenced{node="${n.name}"} 0`);
  });

  test('an agent sees the heartbeat Leases of its own segments only (purelb_agent_heartbeat_peers)', async () => {
    const peersSeen = (n: LanNode) => {
      const text = execFileSync('ip', ['netns', 'exec', n.netns, 'curl', '-s', 'http://127.0.0.1:7473/metrics']);
      return Number(/^purelb_agent_heartbeat_peers\{[^}]*\} (\d+)$/m.exec(text.toString())?.[1]);
    };
    const leases = kc.makeApiClient(CoordinationV1Api);
    // hand-made Leases of two nodes without agents: one on another LAN, one on this LAN but out of service
    // (so it is no candidate for the other tests' addresses)
    const handMade = (holder: string, subnet: string, annotations: Record<string, string> = {}) =>
      leases.createNamespacedLease({
        namespace: install,
        body: {
          metadata: {
            name: `purelb-node-${holder}`,
            labels: heartbeatLabels([subnet]) as Record<string, string>,
            annotations: { 'purelb.io/subnets': subnet, ...annotations },
          },
          spec: { holderIdentity: holder, leaseDurationSeconds: 3600, renewTime: new V1MicroTime(Date.now()) },
        },
      });
    await waitFor('every agent sees its two peers', async () => lan.nodes.every((n) => peersSeen(n) === 2));
    await handMade('elsewhere', '10.99.0.0/24');
    await handMade('neighbour', `${LAN_V4}.0/24`, { 'purelb.io/out-of-service': 'made by the test' });
    try {
      // the neighbour, created after the other, is seen: had the other been watched, it would be too
      await waitFor('every agent sees the neighbour', async () => lan.nodes.every((n) => peersSeen(n) >= 3));
      expect(lan.nodes.map(peersSeen)).toEqual([3, 3, 3]);
    } finally {
      for (const holder of ['elsewhere', 'neighbour'])
        await leases.deleteNamespacedLease({ name: `purelb-node-${holder}`, namespace: install });
    }
    await waitFor('the neighbour gone', async () => lan.nodes.every((n) => peersSeen(n) === 2));
  });
});

describe('virtual addresses', () => {
  test('ETP Cluster: on kube-lb0 of every node with the group aggregation; ETP Local: only where endpoints are ready or serving, following the slice', async () => {
    await createService('vc', ['10.200.0.5'], { group: 'virt' });
    await waitFor('10.200.0.5/24 on all kube-lb0', async () =>
      lan.nodes.every((n) => lan.addresses(n, 'kube-lb0').some((a) => a.ip === '10.200.0.5' && a.prefix === 24)),
    );

    const [n1, n2, n3] = names() as [string, string, string];
    await setEndpoints('vl', [
      { node: n1, ready: true },
      { node: n2, ready: false },
    ]);
    await createService('vl', ['10.201.0.7'], { etpLocal: true, group: 'hosts' });
    await waitFor(`10.201.0.7/32 on ${n1} only`, async () => holderNames('10.201.0.7', 'kube-lb0').join() === n1);
    expect(lan.addresses(node(n1), 'kube-lb0').find((a) => a.ip === '10.201.0.7')?.prefix).toBe(32);

    // endpoints move: ready on n2, terminating-but-serving on n3, gone from n1
    await setEndpoints('vl', [
      { node: n2, ready: true },
      { node: n3, ready: false, serving: true },
    ]);
    await waitFor(
      `10.201.0.7 on ${n2} and ${n3}`,
      async () => holderNames('10.201.0.7', 'kube-lb0').join() === [n2, n3].sort().join(),
    );
    // a local address is never put on kube-lb0, nor a virtual one on eth0
    expect(lan.nodes.flatMap((n) => lan.addresses(n, 'eth0')).some((a) => a.ip.startsWith('10.20'))).toBe(false);
  });

  test('ETP Local on a local address restricts the election to nodes with endpoints (the Service is not rewritten)', async () => {
    const ip = `${LAN_V4}.205`;
    const loser = electWinner(ip, names())!;
    const allowed = names().filter((n) => n !== loser);
    await setEndpoints(
      'lo',
      allowed.map((n) => ({ node: n, ready: true })),
    );
    await createService('lo', [ip], { etpLocal: true });
    await waitForSingleHolder(ip, electWinner(ip, allowed)!);
    expect((await core.readNamespacedService({ name: 'lo', namespace: apps })).spec?.externalTrafficPolicy).toBe(
      'Local',
    );
  });
});

describe('lifecycle', () => {
  test('deleting Services removes their addresses everywhere', async () => {
    const ip = `${LAN_V4}.206`;
    await createService('gone', [ip, '10.200.0.6'], { group: 'virt' });
    await waitFor(
      'placed',
      async () => holders(ip, 'eth0').length === 1 && holders('10.200.0.6', 'kube-lb0').length === 3,
    );
    await core.deleteNamespacedService({ name: 'gone', namespace: apps });
    await waitFor(
      'removed everywhere',
      async () => holders(ip, 'eth0').length === 0 && holders('10.200.0.6', 'kube-lb0').length === 0,
    );
  });

  test('restarting agents causes no flap; startup removes orphans of deleted Services but not foreign addresses', async () => {
    const ip = `${LAN_V4}.207`;
    await createService('steady', [ip, '10.200.0.9'], { group: 'virt' });
    await createService('orphan', ['10.200.0.10'], { group: 'virt' });
    const winner = electWinner(ip, names())!;
    await waitForSingleHolder(ip, winner);
    await waitFor(
      'virtual addresses on all nodes',
      async () => holders('10.200.0.9', 'kube-lb0').length === 3 && holders('10.200.0.10', 'kube-lb0').length === 3,
    );
    const monitors = lan.nodes.map((n) => {
      const child = spawn('ip', ['-n', n.netns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return { child, output: () => out };
    });
    try {
      const others = lan.nodes.filter((n) => n.name !== winner);
      const restarted = others[0]!;
      await lan.stopAgent(restarted, 'SIGTERM');
      // while it is down: a Service goes away, and someone else puts an address on its kube-lb0
      await core.deleteNamespacedService({ name: 'orphan', namespace: apps });
      await waitFor(
        'orphan gone from running nodes',
        async () =>
          holders('10.200.0.10', 'kube-lb0')
            .map((n) => n.name)
            .join() === restarted.name,
      );
      execIp(restarted.netns, 'addr', 'add', '10.99.0.1/32', 'dev', 'kube-lb0');
      await startAgents([restarted]);
      await waitFor('startup sweep removed the orphan', async () => holders('10.200.0.10', 'kube-lb0').length === 0);
      await new Promise((r) => setTimeout(r, 1500));
      expect(lan.addresses(restarted, 'kube-lb0').some((a) => a.ip === '10.99.0.1')).toBe(true);
      // the monitors work: the restarted node's sweep shows up in its own monitor
      expect(monitors[lan.nodes.indexOf(restarted)]!.output()).toMatch(/Deleted .*10\.200\.0\.10\/24/);
      for (const m of monitors) {
        const deleted = m
          .output()
          .split('\n')
          .filter((l) => l.startsWith('Deleted') && (l.includes(` ${ip}/`) || l.includes(' 10.200.0.9/')));
        expect(deleted).toEqual([]);
      }
      expect(holderNames(ip, 'eth0')).toEqual([winner]);
      expect(holders('10.200.0.9', 'kube-lb0').length).toBe(3);
      // nothing changed for 'steady' on the restarted node, so it wrote no second event about it
      const events = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: apps });
      const fromRestarted = events.items.filter(
        (e) => e.regarding?.name === 'steady' && e.note?.startsWith(`node ${restarted.name} `),
      );
      expect(fromRestarted.map((e) => e.reason)).toEqual(['AnnouncingNonLocal']);
    } finally {
      for (const m of monitors) m.child.kill('SIGKILL');
    }
  });
});

function execIp(netns: string, ...args: string[]): void {
  execFileSync('ip', ['-n', netns, ...args]);
}
