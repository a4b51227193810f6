// spec.bgp.advertisements against real daemons: one node (BIRD, FRR or gobgpd, driven by the product's
// RouteAdvertiser) behind an FRR ToR in network namespaces. The ToR's own view of each prefix
// (`show bgp ipv4|ipv6 unicast <prefix> json`) must carry the communities, large communities, AS path
// and LOCAL_PREF that the entry selecting its Service gives it, while other prefixes keep the
// config-wide values. A Service whose labels change gets the new attributes without a session reset,
// and an unrelated prefix is not re-received (its path's lastUpdate and the table version at the ToR
// stay as they were).
import { GROUP, VERSION } from '../../src/api/names.ts';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRouterConfig, type Daemon, type RouterConfigSpec } from '../../src/api/validate-routerconfig.ts';
import type { FrrInstance } from '../../src/lab/frr.ts';
import { nodeBackendPaths, startNodeDaemon } from '../../src/lab/topology/nodes.ts';
import { startTor } from '../../src/lab/topology/tor.ts';
import { createTopology, randomPrefix, type Topology, type TopologyNode } from '../../src/lab/topology/topology.ts';
import { createLogger } from '../../src/log.ts';
import type { RouteAdvertiser } from '../../src/routing/advertiser.ts';
import type { AddressService, AddressServices } from '../../src/routing/attributes.ts';
import { createAdvertiser, startRoutingController, type RoutingController } from '../../src/routing/controller.ts';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace, kubeClient, waitFor } from '../harness/kube.ts';

const GOLD4 = '10.96.0.10/32';
const GOLD6 = 'fd00:96::10/128';
const PLAIN4 = '10.96.0.20/32';
const PLAIN6 = 'fd00:96::20/128';
const BACKUP4 = '10.96.0.30/32';
const ADDRESSES = [GOLD4, GOLD6, PLAIN4, PLAIN6, BACKUP4];
const log = createLogger('routing-attributes-test');

/** What the ToR shows of its best path for a prefix (FRR 8.4 JSON). */
interface TorPath {
  aspath?: { string?: string };
  community?: { string?: string };
  largeCommunity?: { string?: string };
  locPrf?: number;
  version?: number;
  lastUpdate?: { epoch?: number };
}
interface TorPrefix {
  version?: number;
  paths?: TorPath[];
}
type Summary = Record<'ipv4Unicast' | 'ipv6Unicast', { peers?: Record<string, { connectionsEstablished?: number }> }>;

const svc = (key: string, labels: Record<string, string>, groups = ['default']): AddressService => ({
  key,
  labels,
  groups,
});
function servicesWith(goldLabels: Record<string, string>): AddressServices {
  const gold = svc('web/gold', goldLabels);
  return {
    [GOLD4]: [gold],
    [GOLD6]: [gold],
    [PLAIN4]: [svc('web/plain', { tier: 'bronze' })],
    [PLAIN6]: [svc('web/plain', { tier: 'bronze' })],
    [BACKUP4]: [svc('ops/backup', {}, ['backup'])],
  };
}

function config(spec: Record<string, unknown>): RouterConfigSpec {
  const { config: parsed, problems } = parseRouterConfig({ metadata: { name: 'attrs', namespace: 'purelb' }, spec });
  if (!parsed) throw new Error(JSON.stringify(problems));
  return parsed;
}

interface Scenario {
  /** iBGP (LOCAL_PREF) or eBGP (communities, AS-path prepend) */
  internal: boolean;
  localASN: number;
  bgp: Record<string, unknown>;
}

const EBGP: Scenario = {
  internal: false,
  localASN: 65101,
  bgp: {
    communities: ['65000:100'],
    advertisements: [
      {
        name: 'gold',
        serviceSelector: { matchLabels: { tier: 'gold' } },
        communities: ['65000:300', 'large:65101:7:8'],
        asPathPrepend: 2,
      },
      { name: 'backup', serviceGroups: ['backup'], asPathPrepend: 3 },
    ],
  },
};
const IBGP: Scenario = {
  internal: true,
  localASN: 65000,
  bgp: {
    localPref: 100,
    advertisements: [
      {
        name: 'prefer',
        serviceSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] },
        localPref: 300,
        communities: ['65000:300'],
      },
    ],
  },
};

const daemons: Daemon[] = ['bird', 'frr', 'gobgp'];
const cases = daemons.flatMap((d) => [[`${d} eBGP`, d, EBGP] as const, [`${d} iBGP`, d, IBGP] as const]);

describe.each(cases)('%s: per-Service attributes at the FRR ToR', (_name, daemon, sc) => {
  let topo: Topology;
  let tor: FrrInstance;
  let ad: RouteAdvertiser;
  let n: TopologyNode;
  const spec = () =>
    config({
      daemon,
      protocol: 'bgp',
      bgp: {
        localASN: sc.localASN,
        peers: [
          { address: n.torIPv4, asn: 65000, holdTime: 9 },
          { address: n.torIPv6, asn: 65000, holdTime: 9 },
        ],
        ...sc.bgp,
      },
    });
  /** What the agent's routing reconciler does for a new address/label set: hand it over, apply. */
  const handOver = async (services: AddressServices) => {
    await ad.setAddresses(ADDRESSES, services);
    const r = await ad.apply({
      config: spec(),
      nodeName: 'n1',
      nodeIP: n.ipv4,
      kubeInterface: 'kube-lb0',
      passwords: {},
      services,
    });
    expect(r.result).not.toMatch(/Rejected|Failed/);
  };
  const entry = (prefix: string) =>
    tor.json<TorPrefix>(`show bgp ${prefix.includes(':') ? 'ipv6' : 'ipv4'} unicast ${prefix} json`);
  const path = async (prefix: string) => (await entry(prefix)).paths?.[0];
  /** When the ToR last took a path for the prefix: its versions, and lastUpdate (FRR derives that wall-clock
   * time from a monotonic one, so it reads ±1 s; a re-received route moves it by the seconds slept). */
  const received = async (prefix: string) => {
    const e = await entry(prefix);
    const p = e.paths?.[0];
    return { prefix, version: e.version, pathVersion: p?.version, lastUpdate: p?.lastUpdate?.epoch ?? 0 };
  };
  const expectPath = (prefix: string, want: (p: TorPath) => boolean, what: string) =>
    waitFor(
      `ToR path of ${prefix}: ${what}`,
      async () => {
        const p = await path(prefix);
        return p && want(p) ? p : undefined;
      },
      60_000,
    );
  const established = async () => {
    const s = await tor.json<Summary>('show bgp summary json');
    return [
      s.ipv4Unicast?.peers?.[n.ipv4]?.connectionsEstablished,
      s.ipv6Unicast?.peers?.[n.ipv6]?.connectionsEstablished,
    ];
  };

  /** The prefixes' received state once it has not changed for 3 s. */
  const quiet = (prefixes: string[]) => {
    let last = '';
    return waitFor(
      'the ToR to stop receiving updates',
      async () => {
        const now = await Promise.all(prefixes.map(received));
        const same = JSON.stringify(now) === last;
        last = JSON.stringify(now);
        if (!same) await sleep(3000);
        return same ? now : undefined;
      },
      60_000,
    );
  };

  beforeAll(async () => {
    topo = await createTopology({
      prefix: randomPrefix('ra'),
      nodes: 1,
      dir: join(tmpdir(), `purelb-attrs-${process.pid}-${daemon}-${sc.internal ? 'i' : 'e'}`),
    });
    n = topo.node(1);
    tor = await startTor(topo, { protocol: 'bgp', internal: sc.internal });
    await startNodeDaemon(topo, n, daemon, ['bgpd']);
    ad = createAdvertiser(daemon, nodeBackendPaths(n), log.child({ node: n.netns }));
    for (const a of ADDRESSES) await topo.addAddress(1, a);
    await handOver(servicesWith({ tier: 'gold' }));
  });

  afterAll(async () => {
    await ad?.close();
    await topo?.destroy();
  });

  const own = (times: number) => Array.from({ length: times }, () => String(EBGP.localASN)).join(' ');

  test('the selected Services carry their own attributes, the others the config-wide ones (IPv4 and IPv6)', async () => {
    for (const gold of [GOLD4, GOLD6]) {
      if (sc.internal) {
        const p = await expectPath(gold, (x) => x.locPrf === 300, 'LOCAL_PREF 300');
        expect(p.community?.string).toBe('65000:300');
      } else {
        const p = await expectPath(gold, (x) => x.aspath?.string === own(3), `AS path ${own(3)}`);
        expect(p.community?.string).toBe('65000:300');
        expect(p.largeCommunity?.string).toBe('65101:7:8');
      }
    }
    for (const plain of [PLAIN4, PLAIN6]) {
      if (sc.internal) {
        const p = await expectPath(plain, (x) => x.locPrf === 100, 'LOCAL_PREF 100');
        expect(p.community).toBeUndefined();
      } else {
        const p = await expectPath(plain, (x) => x.aspath?.string === own(1), `AS path ${own(1)}`);
        expect(p.community?.string).toBe('65000:100');
        expect(p.largeCommunity).toBeUndefined();
      }
    }
    if (!sc.internal) {
      // selected by ServiceGroup; unset communities keep the config-wide value
      const p = await expectPath(BACKUP4, (x) => x.aspath?.string === own(4), `AS path ${own(4)}`);
      expect(p.community?.string).toBe('65000:100');
    }
  });

  test("a label change moves a Service's routes to other attributes without a session reset or touching other routes", async () => {
    const sessions = await established();
    expect(sessions.every((x) => typeof x === 'number' && x >= 1)).toBe(true);
    const unrelated = [PLAIN4, PLAIN6, BACKUP4];
    // FRR re-sends every route once its route-map delay timer fires after the first load (the ToR logs
    // "duplicate ignored"): wait for 3 quiet seconds first, so that a route re-received after the label
    // change shows a lastUpdate at least 3 s later
    const before = await quiet(unrelated);
    await handOver(servicesWith({ tier: 'bronze' }));
    for (const gold of [GOLD4, GOLD6]) {
      if (sc.internal) await expectPath(gold, (x) => x.locPrf === 100 && !x.community, 'config-wide LOCAL_PREF 100');
      else
        await expectPath(
          gold,
          (x) => x.aspath?.string === own(1) && x.community?.string === '65000:100' && !x.largeCommunity,
          'config-wide attributes',
        );
    }
    // give a wrongly re-sent unrelated route time to arrive before looking
    await sleep(2000);
    const after = await Promise.all(unrelated.map(received));
    expect(after.map(({ lastUpdate: _l, ...r }) => r)).toEqual(before.map(({ lastUpdate: _l, ...r }) => r));
    for (const [i, a] of after.entries())
      expect([a.prefix, Math.abs(a.lastUpdate - before[i]!.lastUpdate) <= 1]).toEqual([a.prefix, true]);
    expect(await established()).toEqual(sessions);
    // and back: the label makes the Service gold again
    await handOver(servicesWith({ tier: 'gold' }));
    await expectPath(GOLD4, (x) => (sc.internal ? x.locPrf === 300 : x.aspath?.string === own(3)), 'gold again');
    expect(await established()).toEqual(sessions);
  });
});

// The same through the agent's routing side: a RouterConfig in a real apiserver, the routing controller
// (RoutingReconciler with its real cluster port) driving BIRD, and the Services handed over as the agent
// does after each reconcile. A label change alone must re-render (the Service moves between entries).
describe('the routing controller re-renders when a Service moves between advertisements (BIRD)', () => {
  let admin: KubeConfig;
  let topo: Topology;
  let tor: FrrInstance;
  let ns: string;
  let controller: RoutingController;

  beforeAll(async () => {
    admin = adminKubeConfig();
    await applyCRDs(admin);
    ns = await freshNamespace(admin, 'attrs');
    topo = await createTopology({
      prefix: randomPrefix('rc'),
      nodes: 1,
      dir: join(tmpdir(), `purelb-attrs-controller-${process.pid}`),
    });
    const n = topo.node(1);
    tor = await startTor(topo, { protocol: 'bgp' });
    await startNodeDaemon(topo, n, 'bird');
    await admin.makeApiClient(CoreV1Api).createNode({ body: { metadata: { name: `${ns}-node` } } });
    await admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'routerconfigs',
      namespace: ns,
      body: {
        apiVersion: 'purelb.io/v1',
        kind: 'RouterConfig',
        metadata: { name: 'tor' },
        spec: {
          daemon: 'bird',
          protocol: 'bgp',
          bgp: {
            localASN: EBGP.localASN,
            peers: [{ address: n.torIPv4, asn: 65000, holdTime: 9 }],
            ...EBGP.bgp,
          },
        },
      },
    });
    for (const a of ADDRESSES) await topo.addAddress(1, a);
    controller = await startRoutingController({
      kc: kubeClient(admin),
      namespace: ns,
      nodeName: `${ns}-node`,
      nodeIP: n.ipv4,
      log: createLogger('attrs-controller-test'),
      paths: nodeBackendPaths(n),
      // no periodic resync during the test: only the hand-over itself can re-render
      resyncMs: 3_600_000,
    });
  });

  afterAll(async () => {
    await controller?.stop();
    await topo?.destroy();
    await admin
      .makeApiClient(CoreV1Api)
      .deleteNode({ name: `${ns}-node` })
      .catch(() => undefined);
    await cleanUpNamespaces();
  });

  const aspath = async (prefix: string) =>
    (await tor.json<TorPrefix>(`show bgp ipv4 unicast ${prefix} json`)).paths?.[0]?.aspath?.string;
  const own = (times: number) => Array.from({ length: times }, () => String(EBGP.localASN)).join(' ');

  test('gold by label, then relabelled: the ToR follows, the session stays', async () => {
    controller.setVirtualAddresses(ADDRESSES, 'kube-lb0', servicesWith({ tier: 'gold' }));
    await waitFor(`${GOLD4} prepended twice`, async () => (await aspath(GOLD4)) === own(3), 60_000);
    expect(await aspath(PLAIN4)).toBe(own(1));
    const summary = async () =>
      (await tor.json<Summary>('show bgp summary json')).ipv4Unicast?.peers?.[topo.node(1).ipv4]
        ?.connectionsEstablished;
    const sessions = await summary();
    controller.setVirtualAddresses(ADDRESSES, 'kube-lb0', servicesWith({ tier: 'bronze' }));
    await waitFor(`${GOLD4} without prepend`, async () => (await aspath(GOLD4)) === own(1), 60_000);
    expect(await summary()).toBe(sessions);
  });
});
