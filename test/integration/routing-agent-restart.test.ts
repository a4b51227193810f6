// An agent restart (a rolling update of the lbnodeagent DaemonSet, a crash) must not withdraw anything at
// the routers: the routing daemon runs in its own DaemonSet (deploy/bird, deploy/frr, deploy/gobgp) and
// keeps running, already configured, while the agent is replaced. For each daemon: a real daemon in a
// node namespace peers with an FRR ToR over IPv4 and IPv6; a routing controller (the agent's routing
// side) configures it and the ToR learns both addresses; the controller stops as on SIGTERM; a new
// controller starts against the same running daemon, first WITHOUT addresses (the new agent's caches are
// still syncing), then with them. The ToR must see no route change at all: no kernel route event for the
// addresses (`ip monitor route` in the ToR namespace), the same BGP path age, no new UPDATE from the node
// and no session re-established. A removal afterwards proves the new controller is in charge and that the
// route monitor sees withdrawals.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Daemon } from '../../src/api/validate-routerconfig.ts';
import type { FrrInstance } from '../../src/lab/frr.ts';
import { nodeBackendPaths, startNodeDaemon } from '../../src/lab/topology/nodes.ts';
import { createTopology, randomPrefix, type Topology } from '../../src/lab/topology/topology.ts';
import { startTor, torNextHops } from '../../src/lab/topology/tor.ts';
import { createLogger } from '../../src/log.ts';
import { startRoutingController, type RoutingController } from '../../src/routing/controller.ts';
import {
  adminKubeConfig,
  applyCRDs,
  cleanUpNamespaces,
  freshNamespace,
  kubeClient,
  nodeRoutingStatus,
  waitFor,
} from '../harness/kube.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const VIP4 = '10.96.8.1/32';
const VIP6 = 'fd00:96::8:1/128';
const rc = { group: GROUP, version: VERSION, plural: 'routerconfigs' };

let admin: KubeConfig;
beforeAll(async () => {
  admin = adminKubeConfig();
  await applyCRDs(admin);
});

afterAll(cleanUpNamespaces);

describe.each<[Daemon]>([['bird'], ['frr'], ['gobgp']])('%s keeps running while the agent restarts', (daemon) => {
  let topo: Topology;
  let tor: FrrInstance;
  let ns: string;
  let nodeName: string;
  const controllers: RoutingController[] = [];

  beforeAll(async () => {
    ns = await freshNamespace(admin, `restart-${daemon}`);
    nodeName = `${ns}-node`;
    topo = await createTopology({
      prefix: randomPrefix('ar'),
      nodes: 1,
      dir: join(tmpdir(), `purelb-agent-restart-${process.pid}-${daemon}`),
    });
    tor = await startTor(topo, { protocol: 'bgp' });
    await startNodeDaemon(topo, topo.node(1), daemon);
    const n = topo.node(1);
    await admin.makeApiClient(CoreV1Api).createNode({ body: { metadata: { name: nodeName } } });
    await admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      ...rc,
      namespace: ns,
      body: {
        apiVersion: 'purelb.io/v1',
        kind: 'RouterConfig',
        metadata: { name: 'tor' },
        spec: {
          daemon,
          protocol: 'bgp',
          bgp: {
            localASN: 65101,
            peers: [
              { address: n.torIPv4, asn: 65000, holdTime: 9 },
              { address: n.torIPv6, asn: 65000, holdTime: 9 },
            ],
          },
        },
      },
    });
  });

  afterAll(async () => {
    for (const c of controllers) await c.stop();
    await topo?.destroy(); // the route monitor and the daemons are the topology's processes
    await admin
      .makeApiClient(CoreV1Api)
      .deleteNode({ name: nodeName })
      .catch(() => undefined);
  });

  const startController = async () => {
    const c = await startRoutingController({
      kc: kubeClient(admin),
      namespace: ns,
      nodeName,
      nodeIP: topo.node(1).ipv4,
      log: createLogger('agent-restart-test'),
      paths: nodeBackendPaths(topo.node(1)),
      statusIntervalMs: 500,
    });
    controllers.push(c);
    return c;
  };

  const nodeStatus = async () => (await nodeRoutingStatus(admin, ns, nodeName))?.status;

  /** What the ToR knows about the node's paths and sessions. FRR derives a path's lastUpdate epoch from its
   * monotonic age, so it may shift by a second between reads: whole seconds, compared with a tolerance. */
  const peerView = async () => {
    const n = topo.node(1);
    type Route = { paths?: Array<{ lastUpdate?: { epoch?: number } }> };
    type Neighbor = Record<string, { messageStats?: { updatesRecv?: number }; connectionsEstablished?: number }>;
    const out: Record<string, unknown> = {};
    for (const [af, vip, peer] of [
      ['ipv4', VIP4, n.ipv4],
      ['ipv6', VIP6, n.ipv6],
    ] as const) {
      const route = await tor.json<Route>(`show bgp ${af} unicast ${vip} json`);
      const nb = (await tor.json<Neighbor>(`show bgp neighbors ${peer} json`))[peer];
      out[af] = {
        pathLastUpdate: route.paths?.map((p) => p.lastUpdate?.epoch ?? 0),
        updatesRecv: nb?.messageStats?.updatesRecv,
        connectionsEstablished: nb?.connectionsEstablished,
      };
    }
    return out as Record<
      'ipv4' | 'ipv6',
      { pathLastUpdate: number[]; updatesRecv?: number; connectionsEstablished?: number }
    >;
  };

  const routeEvents = (vip: string) =>
    readFileSync(join(topo.dir, 'route-monitor.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes(vip.replace(/\/(32|128)$/, '')));

  test('a new controller against the running, configured daemon changes nothing at the ToR', async () => {
    await topo.addAddress(1, VIP4);
    await topo.addAddress(1, VIP6);
    const first = await startController();
    first.setVirtualAddresses([VIP4, VIP6]);
    for (const vip of [VIP4, VIP6]) {
      await waitFor(
        `ToR route ${vip} via the node`,
        async () => {
          const hops = await torNextHops(topo, tor, vip);
          return JSON.stringify(hops.rib) === '["to-n1"]' && JSON.stringify(hops.kernel) === '["to-n1"]';
        },
        60_000,
      );
    }
    await sleep(2000); // FRR's path age has a resolution of one second
    const before = await peerView();
    const monitor = topo.spawn(topo.tor, 'route-monitor', 'stdbuf', ['-oL', 'ip', 'monitor', 'route'], topo.dir);
    await sleep(500);

    await first.stop(); // what the agent does with its routing controller on SIGTERM
    await sleep(1000);
    const restarted = Date.now();
    const second = await startController(); // its first reconcile has run: the daemon config is applied again
    // the new agent's caches are still syncing: no addresses reported yet (GoBGP's watchdog runs meanwhile)
    await sleep(4000);
    second.setVirtualAddresses([VIP4, VIP6]);
    const status = await waitFor(
      'the new controller reports the running config',
      async () => {
        const s = await nodeStatus();
        return s?.lastReload &&
          Date.parse(s.lastReload.time) >= restarted - 1000 &&
          s.advertised.includes(VIP4) &&
          s.advertised.includes(VIP6) &&
          s.sessions.filter((x) => x.state === 'Established').length === 2
          ? s
          : undefined;
      },
      30_000,
    );
    expect(status.lastReload?.result).toBe('Applied'); // the new process applied the config: to an unchanged daemon
    await sleep(6000); // longer than FRR's default route-map delay (5 s) and a few GoBGP watchdog rounds

    const after = await peerView();
    for (const af of ['ipv4', 'ipv6'] as const) {
      // not one UPDATE (a withdrawal is an UPDATE too) and no new session
      expect({
        af,
        updatesRecv: after[af].updatesRecv,
        connectionsEstablished: after[af].connectionsEstablished,
      }).toEqual({
        af,
        updatesRecv: before[af].updatesRecv,
        connectionsEstablished: before[af].connectionsEstablished,
      });
      expect(before[af].pathLastUpdate).toHaveLength(1);
      expect(after[af].pathLastUpdate).toHaveLength(1);
      expect(Math.abs(after[af].pathLastUpdate[0]! - before[af].pathLastUpdate[0]!)).toBeLessThanOrEqual(1);
    }
    expect(routeEvents(VIP4)).toEqual([]);
    expect(routeEvents(VIP6)).toEqual([]);

    // the new controller is in charge, and the monitor does see a withdrawal
    await topo.delAddress(1, VIP4);
    second.setVirtualAddresses([VIP6]);
    await waitFor(
      'ToR route of the removed address gone',
      async () => (await torNextHops(topo, tor, VIP4)).kernel.length === 0,
      30_000,
    );
    await waitFor(
      'the monitor saw the withdrawal',
      async () => routeEvents(VIP4).some((l) => l.startsWith('Deleted')),
      10_000,
    );
    expect((await torNextHops(topo, tor, VIP6)).kernel).toEqual(['to-n1']);
    await topo.stop(monitor);
  }, 180_000);
});
