// The routing controller end to end: a real apiserver (RouterConfig CRD, Node labels, a password
// Secret), running with a service account that has only the RBAC documented in docs/routing.md, drives
// a real BIRD in a network namespace towards an FRR ToR that requires TCP-MD5. Checks the per-node status,
// the advertised route, and that an invalid RouterConfig keeps the running config and routes.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrrInstance } from '../../src/lab/frr.ts';
import { nodeBackendPaths, startNodeDaemon } from '../../src/lab/topology/nodes.ts';
import { createTopology, randomPrefix, type Topology } from '../../src/lab/topology/topology.ts';
import { startTor, torNextHops } from '../../src/lab/topology/tor.ts';
import { createLogger } from '../../src/log.ts';
import { Registry } from 'prom-client';
import { startRoutingController, type RoutingController } from '../../src/routing/controller.ts';
import { createRoutingMetrics } from '../../src/routing/metrics.ts';
import type { NodeRoutingStatus } from '../../src/routing/status.ts';
import {
  adminKubeConfig,
  applyCRDs,
  cleanUpNamespaces,
  freshNamespace,
  kubeClient,
  mergePatch,
  nodeRoutingStatus,
  serviceAccountKubeConfig,
  waitFor,
} from '../harness/kube.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const PASSWORD = 'md5-s3cret';
const VIP4 = '10.96.7.1/32';
let admin: KubeConfig;
let ns: string;
let nodeName: string;
let topo: Topology;
let tor: FrrInstance;
let controller: RoutingController | undefined;
let bird: ChildProcess | undefined;
const rc = { group: GROUP, version: VERSION, plural: 'routerconfigs' };
/** The controller's metrics, as the agent's /metrics serves them. */
const registry = new Registry();
const metricValue = async (name: string, labels: Record<string, string>) =>
  (await registry.getSingleMetric(name)!.get()).values.find((v) =>
    Object.entries(labels).every(([k, x]) => v.labels[k] === x),
  )?.value;

beforeAll(async () => {
  admin = adminKubeConfig();
  await applyCRDs(admin);
  ns = await freshNamespace(admin, 'routing');
  nodeName = `${ns}-node`;
  topo = await createTopology({
    prefix: randomPrefix('rc'),
    nodes: 1,
    dir: join(tmpdir(), `purelb-routing-ctl-${process.pid}`),
  });
  tor = await startTor(topo, { protocol: 'bgp', password: PASSWORD });
  bird = await startNodeDaemon(topo, topo.node(1), 'bird');
});

afterAll(async () => {
  await controller?.stop();
  await topo?.destroy();
  await admin
    .makeApiClient(CoreV1Api)
    .deleteNode({ name: nodeName })
    .catch(() => undefined);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.deleteClusterRoleBinding({ name: `${ns}-routing-nodes` }).catch(() => undefined);
  await rbac.deleteClusterRole({ name: `${ns}-routing-nodes` }).catch(() => undefined);
  await cleanUpNamespaces();
});

/** Exactly the calls the routing controller makes (docs/routing.md, "RBAC"). */
async function routingServiceAccount(): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'agent' } } });
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: 'routing' },
      rules: [
        { apiGroups: ['purelb.io'], resources: ['routerconfigs'], verbs: ['list', 'watch'] },
        { apiGroups: ['purelb.io'], resources: ['noderoutingstatuses'], verbs: ['create', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'routing' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'routing' },
      subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: ns }],
    },
  });
  await rbac.createClusterRole({
    body: {
      metadata: { name: `${ns}-routing-nodes` },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `${ns}-routing-nodes` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${ns}-routing-nodes` },
      subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: ns }],
    },
  });
  return serviceAccountKubeConfig(admin, ns, 'agent');
}

const statusObject = () => nodeRoutingStatus(admin, ns, nodeName);

/** The node's routing status if it names the RouterConfig `name`. */
async function nodeStatus(name: string): Promise<NodeRoutingStatus | undefined> {
  const status = (await statusObject())?.status;
  return status?.routerConfig === name ? status : undefined;
}

test('a RouterConfig selecting the node is rendered, loaded into BIRD, advertised with MD5, and reported per node', async () => {
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  const n = topo.node(1);
  await core.createNode({ body: { metadata: { name: nodeName, labels: { 'purelb.io/rack': 'r1' } } } });
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'tor-md5' }, stringData: { password: PASSWORD } },
  });
  const peer = { address: n.torIPv4, asn: 65000, holdTime: 9, passwordSecretRef: { name: 'tor-md5' } };
  // a less specific config that must lose against the rack one
  await custom.createNamespacedCustomObject({
    ...rc,
    namespace: ns,
    body: {
      apiVersion: 'purelb.io/v1',
      kind: 'RouterConfig',
      metadata: { name: 'all-nodes' },
      spec: { daemon: 'bird', protocol: 'bgp', bgp: { localASN: 65199, peers: [{ address: n.torIPv4, asn: 65000 }] } },
    },
  });
  await custom.createNamespacedCustomObject({
    ...rc,
    namespace: ns,
    body: {
      apiVersion: 'purelb.io/v1',
      kind: 'RouterConfig',
      metadata: { name: 'rack-r1' },
      spec: {
        nodeSelector: { 'purelb.io/rack': 'r1' },
        daemon: 'bird',
        protocol: 'bgp',
        bgp: { localASN: 65101, peers: [peer] },
      },
    },
  });

  const kc = await routingServiceAccount();
  controller = await startRoutingController({
    kc: kubeClient(kc),
    namespace: ns,
    nodeName,
    nodeIP: n.ipv4,
    log: createLogger('routing-test'),
    paths: nodeBackendPaths(n),
    statusIntervalMs: 500,
    metrics: createRoutingMetrics(registry),
  });
  await topo.addAddress(1, VIP4);
  controller.setVirtualAddresses([VIP4]);

  const status = await waitFor(
    'status with an Established session and the VIP',
    async () => {
      const s = await nodeStatus('rack-r1');
      return s?.sessions.some((x) => x.state === 'Established') && s.advertised.includes(VIP4) ? s : undefined;
    },
    60_000,
  );
  expect(status).toMatchObject({
    daemon: 'bird',
    protocol: 'bgp',
    lastReload: { result: 'Applied' },
    configHash: expect.stringMatching(/^sha256:/),
  });
  expect(await nodeStatus('all-nodes')).toBeUndefined();
  // one object for the node, owned by its Node (garbage-collected with it); the RouterConfig has no status
  const node = await core.readNode({ name: nodeName });
  expect((await statusObject())?.metadata.ownerReferences).toEqual([
    expect.objectContaining({ kind: 'Node', name: nodeName, uid: node.metadata!.uid }),
  ]);
  expect(await custom.getNamespacedCustomObject({ ...rc, namespace: ns, name: 'rack-r1' })).not.toHaveProperty(
    'status',
  );
  const conf = readFileSync(join(n.dir, 'bird.conf'), 'utf8');
  expect(conf).toContain(`password "${PASSWORD}";`);
  expect(conf).toContain('local 192.168.11.2 as 65101;');
  await waitFor(
    'ToR route via the node',
    async () => JSON.stringify((await torNextHops(topo, tor, VIP4)).kernel) === '["to-n1"]',
  );
  expect(await metricValue('purelb_routing_session_up', { daemon: 'bird', session: n.torIPv4 })).toBe(1);
  expect(await metricValue('purelb_routing_daemon_reachable', { daemon: 'bird' })).toBe(1);
  expect(await metricValue('purelb_routing_config_rejected', { routerconfig: 'rack-r1' })).toBe(0);
  expect(await metricValue('purelb_routing_reloads_total', { daemon: 'bird', result: 'Applied' })).toBe(1);
});

test('a hold-time change in the RouterConfig is rendered and reloaded; status reports the new hash', async () => {
  const custom = admin.makeApiClient(CustomObjectsApi);
  const n = topo.node(1);
  const oldHash = (await nodeStatus('rack-r1'))!.configHash;
  await custom.patchNamespacedCustomObject(
    {
      ...rc,
      namespace: ns,
      name: 'rack-r1',
      body: {
        spec: {
          bgp: { peers: [{ address: n.torIPv4, asn: 65000, holdTime: 6, passwordSecretRef: { name: 'tor-md5' } }] },
        },
      },
    },
    mergePatch,
  );
  const status = await waitFor(
    'new config applied',
    async () => {
      const s = await nodeStatus('rack-r1');
      return s?.configHash !== oldHash && s?.lastReload?.result === 'Applied' && s.observedGeneration === 2
        ? s
        : undefined;
    },
    30_000,
  );
  expect(status.configHash).toMatch(/^sha256:/);
  expect(readFileSync(join(n.dir, 'bird.conf'), 'utf8')).toContain('hold time 6;');
  await waitFor(
    'session back with the new hold time',
    async () => (await nodeStatus('rack-r1'))?.sessions.some((x) => x.state === 'Established'),
    30_000,
  );
  await waitFor(
    'route via the node',
    async () => JSON.stringify((await torNextHops(topo, tor, VIP4)).kernel) === '["to-n1"]',
    30_000,
  );
});

test('the agent renaming extlbint (LBNodeAgent) re-renders the daemon config for the new interface', async () => {
  const conf = join(topo.node(1).dir, 'bird.conf');
  controller!.setVirtualAddresses([VIP4], 'kube-lb9');
  await waitFor('bird.conf names kube-lb9', async () => readFileSync(conf, 'utf8').includes('interface "kube-lb9"'));
  controller!.setVirtualAddresses([VIP4], 'kube-lb0');
  await waitFor('bird.conf names kube-lb0 again', async () =>
    readFileSync(conf, 'utf8').includes('interface "kube-lb0"'),
  );
  await waitFor(
    'the route is back at the ToR',
    async () => (await torNextHops(topo, tor, VIP4)).kernel.length === 1,
    30_000,
  );
});

test('an invalid RouterConfig is reported in status; BIRD keeps its config and the route stays', async () => {
  const custom = admin.makeApiClient(CustomObjectsApi);
  const n = topo.node(1);
  const before = readFileSync(join(n.dir, 'bird.conf'), 'utf8');
  const goodHash = (await nodeStatus('rack-r1'))!.configHash;
  // the CRD schema accepts it; the validator refuses the duplicate peer
  await custom.patchNamespacedCustomObject(
    {
      ...rc,
      namespace: ns,
      name: 'rack-r1',
      body: {
        spec: {
          bgp: {
            peers: [
              { address: n.torIPv4, asn: 65000 },
              { address: n.torIPv4, asn: 65001 },
            ],
          },
        },
      },
    },
    mergePatch,
  );
  const status = await waitFor(
    'Rejected in status',
    async () => {
      const s = await nodeStatus('rack-r1');
      return s?.lastReload?.result === 'Rejected' ? s : undefined;
    },
    30_000,
  );
  expect(status.lastReload?.error).toContain('spec.bgp.peers[1].address');
  expect(status.configHash).toBe(goodHash);
  expect(readFileSync(join(n.dir, 'bird.conf'), 'utf8')).toBe(before);
  await sleep(1500);
  expect((await torNextHops(topo, tor, VIP4)).kernel).toEqual(['to-n1']);
  expect((await nodeStatus('rack-r1'))!.sessions.find((s) => s.name === n.torIPv4)?.state).toBe('Established');
  const events = await waitFor('a Warning event on the RouterConfig', async () => {
    const list = await admin.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ns });
    const found = list.items.filter((e) => e.reason === 'RoutingConfigRejected' && e.regarding?.name === 'rack-r1');
    return found.length ? found : undefined;
  });
  expect(events).toHaveLength(1); // no repeats for an unchanged state
  expect(await metricValue('purelb_routing_config_rejected', { daemon: 'bird', routerconfig: 'rack-r1' })).toBe(1);
  expect(await metricValue('purelb_routing_reloads_total', { result: 'Rejected' })).toBeGreaterThanOrEqual(1);
  expect(events[0]!.note).toContain(`node ${nodeName}: RouterConfig ${ns}/rack-r1: spec.bgp.peers[1].address`);
  // reverting the bad edit clears the error: the running config is what is asked for again
  await custom.patchNamespacedCustomObject(
    {
      ...rc,
      namespace: ns,
      name: 'rack-r1',
      body: {
        spec: {
          bgp: { peers: [{ address: n.torIPv4, asn: 65000, holdTime: 6, passwordSecretRef: { name: 'tor-md5' } }] },
        },
      },
    },
    mergePatch,
  );
  const healed = await waitFor(
    'lastReload no longer Rejected',
    async () => {
      const s = await nodeStatus('rack-r1');
      return s?.lastReload?.result === 'Unchanged' ? s : undefined;
    },
    30_000,
  );
  expect(healed.lastReload?.error).toBeUndefined();
  expect(healed.configHash).toBe(goodHash);
  expect(await metricValue('purelb_routing_config_rejected', { routerconfig: 'rack-r1' })).toBe(0);
});

test('the CRD refuses at admission what CEL can check (GoBGP + OSPF, keepalive >= hold)', async () => {
  const custom = admin.makeApiClient(CustomObjectsApi);
  const create = (name: string, spec: unknown) =>
    custom.createNamespacedCustomObject({
      ...rc,
      namespace: ns,
      body: { apiVersion: 'purelb.io/v1', kind: 'RouterConfig', metadata: { name }, spec },
    });
  await expect(
    create('gobgp-ospf', { daemon: 'gobgp', protocol: 'ospf', ospf: { interfaces: ['eth0'] } }),
  ).rejects.toMatchObject({ code: 422, body: expect.stringContaining('GoBGP has no OSPF') });
  await expect(
    create('timers', {
      daemon: 'bird',
      protocol: 'bgp',
      bgp: { localASN: 1, peers: [{ address: '10.0.0.1', asn: 2, holdTime: 9, keepaliveTime: 9 }] },
    }),
  ).rejects.toMatchObject({ code: 422, body: expect.stringContaining('keepaliveTime must be less than holdTime') });
  await expect(
    create('not-ip', { daemon: 'bird', protocol: 'bgp', bgp: { localASN: 1, peers: [{ address: 'tor-1', asn: 2 }] } }),
  ).rejects.toMatchObject({ code: 422 });
});

test('a daemon that dies is reported as such: no stale Established sessions in status', async () => {
  expect((await nodeStatus('rack-r1'))!.sessions.length).toBeGreaterThan(0);
  bird!.kill('SIGKILL');
  const status = await waitFor(
    'daemonError in status',
    async () => {
      const s = await nodeStatus('rack-r1');
      return s?.daemonError ? s : undefined;
    },
    30_000,
  );
  expect(status.daemonError).toMatch(/^bird did not answer/);
  expect(status.sessions).toEqual([]);
  expect(status.advertised).toEqual([]);
  expect(await metricValue('purelb_routing_daemon_reachable', { daemon: 'bird' })).toBe(0);
  expect(await metricValue('purelb_routing_session_up', { session: topo.node(1).torIPv4 })).toBeUndefined();
  // restarted as its container would be (on the rendered config in the shared dir): the error disappears
  // from status (the apply removes a field it no longer sends)
  const n = topo.node(1);
  bird = topo.spawn(
    n.netns,
    `bird-${n.netns}`,
    'bird',
    ['-f', '-c', join(n.dir, 'bird.conf'), '-s', nodeBackendPaths(n).birdSocket],
    n.dir,
  );
  const back = await waitFor(
    'daemonError cleared and the session back',
    async () => {
      const s = await nodeStatus('rack-r1');
      return !s?.daemonError && s?.sessions.some((x) => x.state === 'Established') ? s : undefined;
    },
    60_000,
  );
  expect(back).not.toHaveProperty('daemonError');
});

test('when no RouterConfig selects the node any more, its NodeRoutingStatus is deleted', async () => {
  const custom = admin.makeApiClient(CustomObjectsApi);
  expect(await statusObject()).toBeDefined();
  for (const name of ['rack-r1', 'all-nodes'])
    await custom.deleteNamespacedCustomObject({ ...rc, namespace: ns, name });
  await waitFor('the status object deleted', async () => (await statusObject()) === undefined, 30_000);
});
