// gobgpd forgets everything when it restarts; the GoBGP backend's watchdog must notice (GetBgp shows no
// global config) and re-apply global settings, policy, peers and paths without any call from the agent.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRouterConfig } from '../../src/api/validate-routerconfig.ts';
import type { FrrInstance } from '../../src/lab/frr.ts';
import { nodeBackendPaths } from '../../src/lab/topology/nodes.ts';
import { createTopology, randomPrefix, type Topology } from '../../src/lab/topology/topology.ts';
import { startTor, torNextHops } from '../../src/lab/topology/tor.ts';
import { createLogger } from '../../src/log.ts';
import { GobgpAdvertiser } from '../../src/routing/gobgp/advertiser.ts';
import { GobgpClient } from '../../src/routing/gobgp/client.ts';
import { ACCEPT_LOCAL_POLICY } from '../../src/routing/gobgp/messages.ts';
import { waitFor } from '../harness/kube.ts';
import { setTimeout as sleep } from 'node:timers/promises';

let topo: Topology;
let tor: FrrInstance;
let ad: GobgpAdvertiser | undefined;

const startGobgpd = (): ChildProcess => {
  const n = topo.node(1);
  return topo.spawn(
    n.netns,
    'gobgpd',
    'gobgpd',
    [`--api-hosts=${nodeBackendPaths(n).gobgpTarget}`, '--pprof-disable', '-p'],
    n.dir,
  );
};

beforeAll(async () => {
  topo = await createTopology({
    prefix: randomPrefix('gr'),
    nodes: 1,
    dir: join(tmpdir(), `purelb-gobgp-restart-${process.pid}`),
  });
  tor = await startTor(topo, { protocol: 'bgp' });
});

afterAll(async () => {
  await ad?.close();
  await topo?.destroy();
});

test('after gobgpd restarts, the watchdog re-applies peers and paths', async () => {
  const n = topo.node(1);
  const gobgpd = startGobgpd();
  ad = new GobgpAdvertiser({
    target: nodeBackendPaths(n).gobgpTarget,
    log: createLogger('gobgp-test'),
    watchIntervalMs: 500,
  });
  const { config } = parseRouterConfig({
    spec: {
      daemon: 'gobgp',
      protocol: 'bgp',
      bgp: {
        localASN: 65101,
        peers: [
          { address: n.torIPv4, asn: 65000, holdTime: 9 },
          { address: n.torIPv6, asn: 65000, holdTime: 9 },
        ],
      },
    },
  });
  await waitFor(
    'gobgpd answering',
    async () =>
      (await ad!.apply({ config: config!, nodeName: 'n1', nodeIP: n.ipv4, kubeInterface: 'kube-lb0', passwords: {} }))
        .result === 'Applied',
  );
  await ad.setAddresses(['10.96.9.1/32', 'fd00:96::9:1/128']);
  await waitFor(
    'routes at the ToR',
    async () =>
      (await torNextHops(topo, tor, '10.96.9.1/32')).kernel.length === 1 &&
      (await torNextHops(topo, tor, 'fd00:96::9:1/128')).kernel.length === 1,
    60_000,
  );

  await topo.stop(gobgpd);
  await waitFor(
    'routes withdrawn after gobgpd died',
    async () => (await torNextHops(topo, tor, '10.96.9.1/32')).kernel.length === 0,
    30_000,
  );
  startGobgpd(); // the Topology stops it
  // no call into the advertiser: the watchdog alone must restore everything
  await waitFor(
    'routes back at the ToR',
    async () =>
      (await torNextHops(topo, tor, '10.96.9.1/32')).kernel.length === 1 &&
      (await torNextHops(topo, tor, 'fd00:96::9:1/128')).kernel.length === 1,
    60_000,
  );
  expect((await ad.status()).advertised).toEqual(['10.96.9.1/32', 'fd00:96::9:1/128']);
});

test('a new agent finding gobgpd with its global config but without the import policy puts the policy back, and keeps sessions and paths', async () => {
  const n = topo.node(1);
  const target = nodeBackendPaths(n).gobgpTarget;
  const client = new GobgpClient(target);
  type Summary = { ipv4Unicast?: { peers?: Record<string, { connectionsEstablished?: number }> } };
  const established = async () =>
    (await tor.json<Summary>('show bgp summary json')).ipv4Unicast?.peers?.[n.ipv4]?.connectionsEstablished;
  const before = await established();
  // what an agent that died between StartBgp and SetPolicyAssignment leaves behind
  await client.call('SetPolicyAssignment', {
    assignment: { name: 'global', direction: 'IMPORT', policies: [], default_action: 'ACCEPT' },
  });
  await ad!.close();
  ad = new GobgpAdvertiser({ target, log: createLogger('gobgp-test'), watchIntervalMs: 500 });
  const { config } = parseRouterConfig({
    spec: {
      daemon: 'gobgp',
      protocol: 'bgp',
      bgp: {
        localASN: 65101,
        peers: [
          { address: n.torIPv4, asn: 65000, holdTime: 9 },
          { address: n.torIPv6, asn: 65000, holdTime: 9 },
        ],
      },
    },
  });
  expect(
    await ad.apply({ config: config!, nodeName: 'n1', nodeIP: n.ipv4, kubeInterface: 'kube-lb0', passwords: {} }),
  ).toMatchObject({ result: 'Applied' });
  const assigned = await client.list<{ assignment?: { policies?: Array<{ name?: string }>; default_action?: string } }>(
    'ListPolicyAssignment',
    { name: 'global', direction: 'IMPORT' },
  );
  client.close();
  expect(assigned.map((a) => [a.assignment?.default_action, a.assignment?.policies?.map((p) => p.name)])).toEqual([
    ['REJECT', [ACCEPT_LOCAL_POLICY.name]],
  ]);
  // no addresses reported to the new advertiser yet: the paths stay, and so does the session
  await sleep(1500);
  expect((await torNextHops(topo, tor, '10.96.9.1/32')).kernel).toHaveLength(1);
  expect(await established()).toBe(before);
});

test('when the ToR stops, the backend reports its sessions as no longer Established', async () => {
  await tor.stop();
  await expect(tor.vtysh('show version')).rejects.toThrow();
  await waitFor(
    'sessions down in the GoBGP status',
    async () => (await ad!.status()).sessions.every((s) => s.state !== 'Established'),
    30_000,
  );
});
