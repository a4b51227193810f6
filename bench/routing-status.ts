// Benchmark: what one Service change costs the API through routing status, with N simulated nodes.
// Each node runs the agent's real routing cluster port (src/routing/cluster-port.ts: its RouterConfig
// watch and its status write) against a real apiserver; one RouterConfig selects them all. A Service
// change that every node advertises makes every node write its routing status once. Measured:
//  - status writes (one per node: the port's requests);
//  - watch events delivered to the agents (their RouterConfig watches), summed over all nodes;
//  - the size of the object one write replaces, and the largest object any write touches.
// Run: node bench/routing-status.ts [nodes] (default 100)
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GROUP, NODE_ROUTING_STATUS_PLURAL, VERSION } from '../src/api/names.ts';
import { startCluster } from '../src/lab/cluster/cluster.ts';
import { createLogger } from '../src/log.ts';
import { createRoutingClusterPort } from '../src/routing/cluster-port.ts';
import type { RoutingClusterPort } from '../src/routing/ports.ts';
import { buildNodeStatus } from '../src/routing/status.ts';
import { apiserverMetrics, sumCounter } from './measure.ts';
import { applyCRDs, freshNamespace, kubeClient } from '../test/harness/kube.ts';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const NODES = Number(process.argv[2] ?? 100);
const silent = createLogger('bench', {}, () => undefined);

/** The apiserver's own counters: write requests on purelb.io objects, and watch events it sent per resource. */
async function apiserverCounters(kubeconfig: string): Promise<{ writes: number; watchEvents: Record<string, number> }> {
  const text = await apiserverMetrics(kubeconfig);
  const writes = sumCounter(text, 'apiserver_request_total', (l) =>
    l.group === 'purelb.io' && /^(APPLY|PATCH|POST|PUT)$/.test(l.verb ?? '') ? 'writes' : undefined,
  );
  const watchEvents = sumCounter(text, 'apiserver_watch_events_total', (l) =>
    l.group === 'purelb.io' ? l.resource : undefined,
  );
  return { writes: writes.get('writes') ?? 0, watchEvents: Object.fromEntries(watchEvents) };
}

const cluster = await startCluster();
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const client = kubeClient(kc);
const ports: RoutingClusterPort[] = [];
try {
  await applyCRDs(kc);
  const ns = await freshNamespace(kc, 'purelb');
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: 'routerconfigs',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'RouterConfig',
      metadata: { name: 'all' },
      spec: {
        daemon: 'bird',
        protocol: 'bgp',
        bgp: { localASN: 65001, peers: [{ address: '192.0.2.1', asn: 65000 }] },
      },
    },
  });
  let events = 0;
  const nodes: Array<{ name: string; uid: string; port: RoutingClusterPort }> = [];
  for (let i = 0; i < NODES; i++) {
    const name = `bench-node-${i}`;
    const node = await core.createNode({ body: { metadata: { name } } });
    const port = createRoutingClusterPort(client, ns, name, silent);
    port.onRouterConfigChange((_, kind) => void (kind !== 'relist' && events++));
    ports.push(port);
    nodes.push({ name, uid: node.metadata!.uid!, port });
  }
  await Promise.all(ports.map((p) => p.synced));
  const advertised = (n: number) => Array.from({ length: n }, (_, i) => `10.96.${i >> 8}.${i & 255}/32`);
  /** Every node writes at once, as after one Service change; resolves to the number of failed writes. */
  const write = async (prefixes: string[]) =>
    (
      await Promise.allSettled(
        nodes.map(({ uid, port }) =>
          port.writeNodeStatus(
            buildNodeStatus({
              routerConfig: 'all',
              daemon: 'bird',
              protocol: 'bgp',
              generation: 1,
              applied: { result: 'Applied', hash: `sha256:${'0'.repeat(64)}` },
              lastReload: { time: new Date().toISOString(), result: 'Applied' },
              daemonStatus: {
                sessions: [{ name: '192.0.2.1', state: 'Established', info: 'up' }],
                advertised: prefixes,
              },
              now: new Date(),
            }),
            uid,
          ),
        ),
      )
    ).filter((r) => r.status === 'rejected').length;
  await write(advertised(63)); // every node reported once (63 Services)
  await sleep(2000);
  events = 0;
  const before = await apiserverCounters(cluster.kubeconfig);
  const t0 = performance.now();
  const failed = await write(advertised(64)); // one more Service, advertised by every node
  const seconds = (performance.now() - t0) / 1000;
  await sleep(2000); // the watches deliver what the writes caused
  const after = await apiserverCounters(cluster.kubeconfig);
  const size = (o: unknown) => Buffer.byteLength(JSON.stringify(o));
  const one = await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: NODE_ROUTING_STATUS_PLURAL,
    name: nodes[0]!.name,
  });
  const rc = await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: 'routerconfigs',
    name: 'all',
  });
  console.log(`${NODES} nodes, one Service change advertised by every node:`);
  console.log(`  status writes: ${NODES - failed} stored, ${failed} failed, in ${seconds.toFixed(2)} s`);
  console.log(`  purelb.io write requests (apiserver_request_total): ${after.writes - before.writes}`);
  for (const [resource, n] of Object.entries(after.watchEvents))
    console.log(
      `  watch events sent for ${resource} (apiserver_watch_events_total): ${n - (before.watchEvents[resource] ?? 0)}`,
    );
  console.log(`  watch events received by the agents' RouterConfig watches: ${events}`);
  console.log(`  bytes of the object one write replaces: ${size(one)} (a NodeRoutingStatus)`);
  console.log(`  bytes of the RouterConfig every agent watches: ${size(rc)}`);
} finally {
  await Promise.all(ports.map((p) => p.stop()));
  await cluster.stop();
}
