// The allocator as real `purelb allocator` processes with leader election: killed (SIGKILL, by pid)
// and restarted in the middle of a burst of Services it assigns no duplicate and moves nothing; a
// standby takes over from a killed leader; a leader stopped with SIGTERM releases the Lease and exits 0.
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { LEASE_NAME } from '../../src/cli/allocator.ts';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace, waitFor } from '../harness/kube.ts';
import {
  createService,
  ingressOf,
  ownAnnotations,
  putServiceGroup,
  spawnAllocator,
  waitForIngress,
  type AllocatorProcess,
} from './allocator-fixtures.ts';

let kc: KubeConfig;
let ns: string;
const procs: AllocatorProcess[] = [];

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
});

beforeEach(async () => {
  ns = await freshNamespace(kc, 'alloc-ha');
});

afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
});

afterAll(cleanUpNamespaces);

const start = (identity: string) => {
  const p = spawnAllocator(process.env.PURELB_TEST_KUBECONFIG!, ns, identity);
  procs.push(p);
  return p;
};

const lease = () => kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: ns, name: LEASE_NAME });
const holder = async () => (await lease().catch(() => undefined))?.spec?.holderIdentity ?? '';

async function allAddresses(names: string[]): Promise<Map<string, string[]>> {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace: ns });
  return new Map(
    list.items.filter((s) => names.includes(s.metadata!.name!)).map((s) => [s.metadata!.name!, ingressOf(s)]),
  );
}

test('killed mid-stream and restarted, the allocator assigns no address twice and moves none', async () => {
  await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.80.0.0/24', subnet: '10.80.0.0/24' } });
  const first = start('first');
  await waitFor('first leads', async () => (await holder()) === 'first');
  const names = Array.from({ length: 60 }, (_, i) => `s${String(i).padStart(2, '0')}`);
  const creating = (async () => {
    for (const name of names) await createService(kc, ns, name);
  })();
  await waitFor(
    'some Services have addresses',
    async () => [...(await allAddresses(names)).values()].filter((ips) => ips.length).length >= 15,
  );
  first.child.kill('SIGKILL');
  await first.exited;
  const atKill = await allAddresses(names);
  await creating;

  start('second');
  await waitFor(
    'every Service has an address and is branded',
    async () => {
      const list = await kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace: ns });
      return (
        list.items.length === names.length &&
        list.items.every(
          (s) => ingressOf(s).length === 1 && ownAnnotations(s)['purelb.io/allocated-from'] === 'default',
        )
      );
    },
    40_000,
  );
  expect(await holder()).toBe('second');
  const final = await allAddresses(names);
  // nothing the first process had written moved
  for (const [name, ips] of atKill) if (ips.length) expect(final.get(name)).toEqual(ips);
  // no duplicates, no gaps: exactly the 60 lowest addresses of the pool
  const used = [...final.values()].map((ips) => ips[0]!);
  expect(new Set(used).size).toBe(names.length);
  expect(used.sort((a, b) => Number(a.split('.')[3]) - Number(b.split('.')[3]))).toEqual(
    names.map((_, i) => `10.80.0.${i}`),
  );
});

test('leader failover: the standby takes over a killed leader; a SIGTERM releases the Lease and exits 0', async () => {
  await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.81.0.1-10.81.0.50', subnet: '10.81.0.0/24' } });
  const a = start('a');
  const b = start('b');
  const leaderId = await waitFor('a leader', async () => (await holder()) || undefined);
  const [leader, standby] = leaderId === 'a' ? [a, b] : [b, a];
  await createService(kc, ns, 'before');
  await waitForIngress(kc, ns, 'before', ['10.81.0.1'], 'default');
  const transitions = (await lease()).spec?.leaseTransitions ?? 0;

  leader.child.kill('SIGKILL');
  await leader.exited;
  await createService(kc, ns, 'during');
  // lease duration 4 s: the standby must hold the Lease and serve well within a few lease durations
  await waitFor('the standby holds the Lease', async () => (await holder()) === standby.identity, 12_000);
  expect((await lease()).spec?.leaseTransitions).toBe(transitions + 1);
  await waitForIngress(kc, ns, 'during', ['10.81.0.2'], 'default');
  expect(ingressOf(await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'before' }))).toEqual(
    ['10.81.0.1'],
  );

  // its health endpoint: ready, and the metrics of a leader
  const started = standby.logs
    .map((l) => JSON.parse(l) as { msg: string; healthPort?: number })
    .find((l) => l.msg === 'allocator started');
  const base = `http://127.0.0.1:${started!.healthPort}`;
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
  // pool gauges are refreshed with the (coalesced) ServiceGroup status
  const metrics = await waitFor('pool gauges', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return text.includes('purelb_allocator_pool_in_use{group="default",family="IPv4"} 2') ? text : undefined;
  });
  expect(metrics).toContain('purelb_allocator_leader 1');
  expect(metrics).toContain('purelb_allocator_pool_size{group="default",family="IPv4"} 50');

  // a clean stop releases the Lease at once (holder cleared) and exits 0; a new replica then takes it
  const third = start('c');
  await waitFor('c is ready (standing by)', async () => third.logs.some((l) => l.includes('allocator started')));
  standby.child.kill('SIGTERM');
  expect(await standby.exited).toBe(0);
  expect(standby.logs.some((l) => l.includes('released leadership'))).toBe(true);
  await waitFor('c holds the Lease', async () => (await holder()) === 'c', 12_000);
  await createService(kc, ns, 'after');
  await waitForIngress(kc, ns, 'after', ['10.81.0.3'], 'default');
});
