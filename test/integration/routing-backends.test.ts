// Every backend against real daemons in network namespaces: a ToR (FRR, ECMP) and three nodes running
// BIRD, FRR or gobgpd, driven by the product's RouteAdvertiser classes. Checks, for IPv4 and IPv6, that
// the ToR's RIB and kernel have one next hop per announcing node, that removing an address removes that
// node's next hop, that a config change reloads without disturbing unchanged sessions, and that a broken
// config leaves the running config and the routes untouched.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRouterConfig, type Daemon, type RouterConfigSpec } from '../../src/api/validate-routerconfig.ts';
import { createLogger } from '../../src/log.ts';
import type { RouteAdvertiser } from '../../src/routing/advertiser.ts';
import { createAdvertiser } from '../../src/routing/controller.ts';
import type { NodeRoutingInput } from '../../src/routing/render.ts';
import type { FrrInstance } from '../../src/lab/frr.ts';
import { nodeBackendPaths, startNodeDaemon } from '../../src/lab/topology/nodes.ts';
import { createTopology, randomPrefix, type Topology, type TopologyNode } from '../../src/lab/topology/topology.ts';
import { startTor, torNextHops } from '../../src/lab/topology/tor.ts';
import { waitFor } from '../harness/kube.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const VIP4 = '10.96.0.10/32';
const VIP6 = 'fd00:96::10/128';
const ALL = ['to-n1', 'to-n2', 'to-n3'];
const log = createLogger('routing-test');

interface Case {
  daemon: Daemon;
  protocol: 'bgp' | 'ospf';
  mode?: 'stub' | 'external';
}

function specFor(c: Case, n: TopologyNode, change = false): Record<string, unknown> {
  if (c.protocol === 'bgp') {
    return {
      daemon: c.daemon,
      protocol: 'bgp',
      bgp: {
        localASN: 65100 + n.index,
        peers: [
          { address: n.torIPv4, asn: 65000, holdTime: 9 },
          // the change: a new hold time on the IPv6 peer only
          { address: n.torIPv6, asn: 65000, holdTime: change ? 6 : 9 },
        ],
      },
    };
  }
  return {
    daemon: c.daemon,
    protocol: 'ospf',
    ospf: {
      interfaces: ['eth0'],
      networkType: 'point-to-point',
      helloInterval: 1,
      deadInterval: 4,
      mode: c.mode,
      metric: 20,
      cost: change ? 20 : 10,
    },
  };
}

function config(spec: Record<string, unknown>): RouterConfigSpec {
  const { config: parsed, problems } = parseRouterConfig({ metadata: { name: 'test' }, spec });
  if (!parsed) throw new Error(JSON.stringify(problems));
  return parsed;
}

const input = (n: TopologyNode, cfg: RouterConfigSpec, passwords: Record<string, string> = {}): NodeRoutingInput => ({
  config: cfg,
  nodeName: `n${n.index}`,
  nodeIP: n.ipv4,
  kubeInterface: 'kube-lb0',
  passwords,
});

/** Records every observed next-hop set of prefix until stop() is called. */
function sampler(topo: Topology, tor: FrrInstance, prefix: string) {
  const samples: string[][] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push((await torNextHops(topo, tor, prefix)).kernel);
      await sleep(50);
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

const cases: Array<[string, Case]> = [
  ['BIRD BGP', { daemon: 'bird', protocol: 'bgp' }],
  ['BIRD OSPF (stub)', { daemon: 'bird', protocol: 'ospf', mode: 'stub' }],
  ['FRR BGP', { daemon: 'frr', protocol: 'bgp' }],
  ['FRR OSPF (external)', { daemon: 'frr', protocol: 'ospf', mode: 'external' }],
  ['GoBGP BGP', { daemon: 'gobgp', protocol: 'bgp' }],
];

describe.each(cases)('%s: three nodes behind an FRR ToR', (_name, c) => {
  let topo: Topology;
  let tor: FrrInstance;
  const ads: RouteAdvertiser[] = [];
  const addresses = new Map<number, Set<string>>();

  const placeAddress = async (n: TopologyNode, cidr: string, present: boolean) => {
    const set = addresses.get(n.index) ?? new Set<string>();
    addresses.set(n.index, set);
    if (present) await topo.addAddress(n.index, cidr);
    else await topo.delAddress(n.index, cidr);
    if (present) set.add(cidr);
    else set.delete(cidr);
    // what the agent does after each reconcile (BIRD/FRR ignore it and read kube-lb0)
    await ads[n.index - 1]!.setAddresses([...set]);
  };

  const expectHops = (prefix: string, hops: string[], timeoutMs = 60_000) =>
    waitFor(
      `ToR next hops of ${prefix} = ${hops.join(',')}`,
      async () => {
        const got = await torNextHops(topo, tor, prefix);
        return JSON.stringify(got.rib) === JSON.stringify(hops) && JSON.stringify(got.kernel) === JSON.stringify(hops)
          ? got
          : undefined;
      },
      timeoutMs,
    );

  beforeAll(async () => {
    topo = await createTopology({
      prefix: randomPrefix('rt'),
      nodes: 3,
      dir: join(tmpdir(), `purelb-routing-${process.pid}-${c.daemon}-${c.protocol}`),
    });
    tor = await startTor(topo, { protocol: c.protocol });
    for (const n of topo.nodes) {
      await startNodeDaemon(topo, n, c.daemon, c.protocol === 'bgp' ? ['bgpd'] : ['ospfd', 'ospf6d']);
      const ad = createAdvertiser(c.daemon, nodeBackendPaths(n), log.child({ node: n.netns }));
      ads.push(ad);
      expect(await ad.apply(input(n, config(specFor(c, n))))).toMatchObject({ result: 'Applied' });
    }
  });

  afterAll(async () => {
    for (const ad of ads) await ad.close();
    await topo?.destroy();
  });

  test('every node becomes an ECMP next hop for IPv4 and IPv6', async () => {
    for (const n of topo.nodes) {
      await placeAddress(n, VIP4, true);
      await placeAddress(n, VIP6, true);
    }
    await expectHops(VIP4, ALL);
    await expectHops(VIP6, ALL);
    const st = await ads[0]!.status();
    expect(st.advertised).toEqual([VIP4, VIP6]);
    // the daemon itself reports its sessions up (BGP Established, OSPF Full)
    expect(st.sessions.filter((s) => /^(Established|Full)/.test(s.state)).length).toBeGreaterThanOrEqual(2);
  });

  test('addresses of an aggregated pool (aggregation /24, /64) are advertised as one ECMP route', async () => {
    // different Services of one pool on different nodes share the aggregate, as in PureLB
    const placed: Array<[TopologyNode, string]> = topo.nodes.flatMap(
      (n) =>
        [
          [n, `10.97.0.${n.index + 4}/24`],
          [n, `fd00:97::${n.index + 4}/64`],
        ] as Array<[TopologyNode, string]>,
    );
    for (const [n, cidr] of placed) await placeAddress(n, cidr, true);
    await expectHops('10.97.0.0/24', ALL);
    await expectHops('fd00:97::/64', ALL);
    expect((await ads[0]!.status()).advertised).toEqual([
      '10.96.0.10/32',
      '10.97.0.0/24',
      'fd00:96::10/128',
      'fd00:97::/64',
    ]);
    for (const [n, cidr] of placed) await placeAddress(n, cidr, false);
    await expectHops('10.97.0.0/24', []);
    await expectHops(VIP4, ALL); // the host routes were never disturbed
  });

  test('removing the address on one node removes exactly that next hop', async () => {
    await placeAddress(topo.node(2), VIP4, false);
    await placeAddress(topo.node(2), VIP6, false);
    await expectHops(VIP4, ['to-n1', 'to-n3']);
    await expectHops(VIP6, ['to-n1', 'to-n3']);
    expect((await ads[1]!.status()).advertised).toEqual([]);
  });

  test('a config change reloads without losing the routes of unchanged sessions', async () => {
    const n1 = topo.node(1);
    type Summary = { ipv4Unicast?: { peers?: Record<string, { connectionsEstablished?: number }> } };
    const before =
      c.protocol === 'bgp'
        ? (await tor.json<Summary>('show bgp summary json')).ipv4Unicast?.peers?.[n1.ipv4]?.connectionsEstablished
        : undefined;
    const watch = sampler(topo, tor, VIP4);
    const result = await ads[0]!.apply(input(n1, config(specFor(c, n1, true))));
    await sleep(3000);
    // at least 10 samples after the reload began, however slow a loaded machine makes each sample
    await waitFor('10 samples of the IPv4 route', async () => watch.samples.length >= 10, 60_000);
    await watch.stop();
    expect(result.result).toBe('Applied');
    // the IPv4 route never lost node 1 (nor node 3) while node 1 reloaded
    expect(watch.samples.filter((s) => JSON.stringify(s) !== JSON.stringify(['to-n1', 'to-n3']))).toEqual([]);
    if (c.protocol === 'bgp') {
      const after = (await tor.json<Summary>('show bgp summary json')).ipv4Unicast?.peers?.[n1.ipv4]
        ?.connectionsEstablished;
      expect(after).toBe(before); // the unchanged IPv4 session was not re-established
    }
    await expectHops(VIP6, ['to-n1', 'to-n3']);
  });

  test('a broken config is refused; the running config and the routes stay', async () => {
    const n1 = topo.node(1);
    const running =
      c.daemon === 'gobgp'
        ? undefined
        : readFileSync(join(n1.dir, c.daemon === 'bird' ? 'bird.conf' : 'frr.conf'), 'utf8');
    let result;
    if (c.daemon === 'gobgp') {
      // a password Secret that cannot be read
      const cfg = config({
        ...specFor(c, n1, true),
        bgp: { localASN: 65101, peers: [{ address: n1.torIPv4, asn: 65000, passwordSecretRef: { name: 'missing' } }] },
      });
      result = await ads[0]!.apply(input(n1, cfg));
    } else {
      // values the validator would refuse, handed straight to the backend: the daemon's own check must catch them
      const cfg = config(specFor(c, n1, true));
      if (cfg.bgp) cfg.bgp.peers[0] = { ...cfg.bgp.peers[0]!, asn: 0, holdTime: 1, keepaliveTime: 1 };
      if (cfg.ospf) cfg.ospf = { ...cfg.ospf, cost: 0, helloInterval: 0 };
      result = await ads[0]!.apply(input(n1, cfg));
    }
    expect(result.result).toBe('Rejected');
    expect(result.error).toBeTruthy();
    if (running !== undefined) {
      expect(readFileSync(join(n1.dir, c.daemon === 'bird' ? 'bird.conf' : 'frr.conf'), 'utf8')).toBe(running);
    }
    await sleep(1500);
    expect((await torNextHops(topo, tor, VIP4)).kernel).toEqual(['to-n1', 'to-n3']);
    expect((await torNextHops(topo, tor, VIP6)).kernel).toEqual(['to-n1', 'to-n3']);
  });
});
