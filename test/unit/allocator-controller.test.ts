// The allocator controller driven through an in-memory cluster port: ownership on takeover, failed
// writes, leadership lost mid-write, invalid ServiceGroups and refused allocations. The same
// behaviours against a real apiserver are in test/integration/allocator*.test.ts.
import { describe, expect, test } from '@jest/globals';
import type { V1Service } from '@kubernetes/client-node';
import { AllocatorController } from '../../src/allocator/controller.ts';
import { createAllocatorMetrics } from '../../src/allocator/metrics.ts';
import { waitUntil } from '../../src/lab/wait.ts';
import { createLogger } from '../../src/log.ts';
import { FakeAllocatorCluster } from './fakes/allocator-cluster.ts';

const NS = 'apps';
const POOL = { v4pool: { pool: '10.0.0.1-10.0.0.3', subnet: '10.0.0.0/24', aggregation: 'default' } };
const OURS = { 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'default' };

interface SvcOpts {
  /** creation day in January 2026 (the queue serves older Services first) */
  day?: number;
  ingress?: string[];
  annotations?: Record<string, string>;
  lbClass?: string;
  type?: string;
}

function service(name: string, o: SvcOpts = {}): V1Service {
  return {
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      creationTimestamp: new Date(Date.UTC(2026, 0, o.day ?? 1)),
      annotations: o.annotations ?? {},
    },
    spec: {
      type: o.type ?? 'LoadBalancer',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ protocol: 'TCP', port: 80 }],
      ...(o.lbClass ? { loadBalancerClass: o.lbClass } : {}),
    },
    ...(o.ingress ? { status: { loadBalancer: { ingress: o.ingress.map((ip) => ({ ip })) } } } : {}),
  };
}

/** The fields of the controller's JSON log lines these tests read. */
interface LogLine {
  msg: string;
  service?: string;
  retryInMs?: number;
}

function setup() {
  const logs: LogLine[] = [];
  const log = createLogger('allocator-test', {}, (line) => logs.push(JSON.parse(line) as LogLine));
  const cluster = new FakeAllocatorCluster(log);
  cluster.applyGroup('default', POOL);
  const metrics = createAllocatorMetrics();
  const controller = new AllocatorController(cluster, {
    namespace: cluster.namespace,
    lbClass: 'purelb.io/purelb',
    log,
    metrics,
    statusDelayMs: 0,
    // short and exact, so the retries run at once and their delays can be compared
    retry: { baseMs: 5, capMs: 20, jitter: 0 },
  });
  /** Until the queue is empty and every write of ours reached the cache (and was decided on). */
  const settle = async () => {
    do {
      await new Promise((r) => setImmediate(r));
      await controller.idle();
    } while (cluster.delivering);
  };
  const ingress = (name: string) =>
    (cluster.service(`${NS}/${name}`)?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
  const annotations = (name: string) => {
    const all = cluster.service(`${NS}/${name}`)?.metadata?.annotations ?? {};
    return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith('purelb.io/allocated-')));
  };
  const notes = (name: string, reason: string) =>
    cluster.sent.filter((e) => e.regarding?.name === name && e.reason === reason).map((e) => e.note);
  const serviceWrites = () =>
    cluster.writes.filter((w) => w.verb === 'status' || w.verb === 'annotations').map((w) => `${w.verb} ${w.key}`);
  return { cluster, controller, metrics, logs, settle, ingress, annotations, notes, serviceWrites };
}

/** Polls every 2 ms (the controller's timers run meanwhile); fails naming what never happened. */
const until = (what: string, probe: () => boolean) => waitUntil(what, probe, 10_000, 2);

describe('takeover', () => {
  test('every address the Services show is held before a new one is handed out, even ahead of a lagging cache', async () => {
    const { cluster, controller, settle, ingress, notes, serviceWrites } = setup();
    cluster.applyService(service('older', { day: 1 }));
    // the previous leader's last write: in the apiserver, not yet in this replica's cache
    cluster.applyService(service('owner', { day: 2 }));
    cluster.applyService(service('owner', { day: 2, ingress: ['10.0.0.1'], annotations: OURS }), { watch: false });
    // another class's Service shows an address inside our pool
    cluster.applyService(service('foreign', { day: 3, lbClass: 'example.com/other', ingress: ['10.0.0.2'] }));
    await controller.startLeading();
    await settle();
    expect(ingress('older')).toEqual(['10.0.0.3']);
    expect(ingress('owner')).toEqual(['10.0.0.1']);
    expect(ingress('foreign')).toEqual(['10.0.0.2']);
    expect(serviceWrites()).toEqual([`status ${NS}/older`]);
    expect(notes('older', 'AddressAssigned')).toEqual(['Assigned 10.0.0.3 from ServiceGroup default']);
  });

  test('leadership lost while the takeover LISTs: it never starts', async () => {
    const { cluster, controller, settle, serviceWrites } = setup();
    cluster.applyService(service('a'));
    const listing = cluster.hold('list');
    const starting = controller.startLeading();
    await listing.reached;
    controller.stopLeading();
    listing.resume();
    await starting;
    await settle();
    expect(controller.isLeading()).toBe(false);
    expect(serviceWrites()).toEqual([]);
  });
});

describe('writes', () => {
  test('a failed status write is retried with the address already held; no other Service gets it', async () => {
    const { cluster, controller, settle, ingress, annotations, notes, serviceWrites, logs } = setup();
    cluster.failNext('status', 500);
    cluster.applyService(service('a', { day: 1 }));
    cluster.applyService(service('b', { day: 2 }));
    await controller.startLeading();
    await settle();
    expect(ingress('b')).toEqual(['10.0.0.2']);
    await until('the retry of a', () => ingress('a').length > 0);
    await settle();
    expect(ingress('a')).toEqual(['10.0.0.1']);
    expect(annotations('a')).toEqual(OURS);
    expect(serviceWrites()).toEqual([`status ${NS}/b`, `status ${NS}/a`]);
    // reported once, when the address really was written
    expect(notes('a', 'AddressAssigned')).toEqual(['Assigned 10.0.0.1 from ServiceGroup default']);
    expect(logs.filter((l) => l.msg === 'reconcile failed, retrying').map((l) => l.service)).toEqual([`${NS}/a`]);
  });

  test('failures in a row wait longer each time up to the cap; a success starts over', async () => {
    const { cluster, controller, settle, ingress, logs } = setup();
    for (let i = 0; i < 4; i++) cluster.failNext('status', 503);
    cluster.applyService(service('a'));
    await controller.startLeading();
    await until('a written after four failures', () => ingress('a').length > 0);
    await settle();
    const shown = cluster.service(`${NS}/a`)!;
    cluster.failNext('status', 503);
    cluster.applyService({ ...shown, spec: { ...shown.spec, type: 'ClusterIP' } });
    await until('a released after one more failure', () => ingress('a').length === 0);
    const delays = logs.filter((l) => l.msg === 'reconcile failed, retrying');
    expect(delays.map((l) => [l.service, l.retryInMs])).toEqual([
      [`${NS}/a`, 5],
      [`${NS}/a`, 10],
      [`${NS}/a`, 20],
      [`${NS}/a`, 20],
      [`${NS}/a`, 5],
    ]);
  });

  test('a failed ServiceGroup status write is retried', async () => {
    const { cluster, controller, logs } = setup();
    cluster.failNext('groupStatus', 500);
    await controller.startLeading();
    const valid = (status: string) => () =>
      !!cluster.group('default')?.status?.conditions?.some((c) => c.type === 'Valid' && c.status === status);
    await until('Valid=True on the ServiceGroup', valid('True'));
    expect(logs.filter((l) => l.msg === 'could not write ServiceGroup status, retrying')).toHaveLength(1);
  });

  test('an apiserver that drops metadata on services/status gets a second patch for the annotations', async () => {
    const { cluster, controller, settle, ingress, annotations, serviceWrites } = setup();
    cluster.statusIgnoresMetadata = true;
    cluster.applyService(service('a'));
    await controller.startLeading();
    await settle();
    expect([ingress('a'), annotations('a')]).toEqual([['10.0.0.1'], OURS]);
    expect(serviceWrites()).toEqual([`status ${NS}/a`, `annotations ${NS}/a`]);
  });

  test('leadership lost during a write: the write in flight ends, nothing is written after it', async () => {
    const { cluster, controller, settle, serviceWrites } = setup();
    cluster.statusIgnoresMetadata = true;
    cluster.applyService(service('a'));
    const writing = cluster.hold('status');
    await controller.startLeading();
    await writing.reached;
    controller.stopLeading();
    writing.resume();
    await settle();
    // the status patch was already sent; the annotations patch and the event never follow
    expect(serviceWrites()).toEqual([`status ${NS}/a`]);
    expect(cluster.sent.filter((e) => e.regarding?.kind === 'Service')).toEqual([]);
    cluster.applyService(service('b'));
    await settle();
    expect(serviceWrites()).toEqual([`status ${NS}/a`]);
  });

  test('a Service that is no longer a LoadBalancer gives its address back and loses allocated-from', async () => {
    const { cluster, controller, settle, ingress, annotations, notes } = setup();
    cluster.applyService(service('a', { day: 1 }));
    await controller.startLeading();
    await settle();
    const shown = cluster.service(`${NS}/a`)!;
    cluster.applyService({ ...shown, spec: { ...shown.spec, type: 'ClusterIP' } });
    await settle();
    // the brand stays: it says who wrote the Service, not that it holds an address
    expect([ingress('a'), annotations('a')]).toEqual([[], { 'purelb.io/allocated-by': 'PureLB' }]);
    expect(notes('a', 'AddressReleased')).toEqual([
      'Released 10.0.0.1: the Service is type ClusterIP, not LoadBalancer',
    ]);
    cluster.applyService(service('b', { day: 2 }));
    await settle();
    expect(ingress('b')).toEqual(['10.0.0.1']);
  });
});

describe('refusals and ServiceGroups', () => {
  test('a refused Service keeps being reported once, and is served when the address is freed', async () => {
    const { cluster, controller, metrics, settle, ingress, notes } = setup();
    const pinned = { 'purelb.io/addresses': '10.0.0.2' };
    cluster.applyService(service('a', { day: 1, annotations: pinned }));
    cluster.applyService(service('b', { day: 2, annotations: pinned }));
    await controller.startLeading();
    await settle();
    for (let i = 0; i < 3; i++) {
      cluster.applyService(service('b', { day: 2, annotations: { ...pinned, 'example.com/touch': String(i) } }));
      await settle();
    }
    expect(ingress('b')).toEqual([]);
    expect(notes('b', 'AllocationFailed')).toEqual([expect.stringContaining(`10.0.0.2 is in use by ${NS}/a`)]);
    expect((await metrics.failures.get()).values.map((v) => [v.labels.reason, v.value])).toEqual([['in-use', 1]]);
    cluster.deleteService(`${NS}/a`);
    await settle();
    expect(ingress('b')).toEqual(['10.0.0.2']);
    expect(notes('b', 'AddressAssigned')).toEqual(['Assigned 10.0.0.2 from ServiceGroup default']);
  });

  test('an invalid ServiceGroup update is reported, its last valid version keeps serving and no address moves', async () => {
    const { cluster, controller, settle, ingress, notes, serviceWrites } = setup();
    cluster.applyService(service('a', { day: 1 }));
    await controller.startLeading();
    await settle();
    expect(ingress('a')).toEqual(['10.0.0.1']);
    cluster.applyGroup('default', { v4pool: { ...POOL.v4pool, pool: '10.0.0.9-10.0.0.1' } });
    await settle();
    expect(notes('default', 'ParseFailed')).toEqual([
      expect.stringMatching(/range start 10\.0\.0\.9 is after its end 10\.0\.0\.1.*; generation 1 keeps serving$/),
    ]);
    const invalid = (c: { type: string; status: string }) => c.type === 'Valid' && c.status === 'False';
    await until('Valid=False on the ServiceGroup', () => !!cluster.group('default')?.status?.conditions?.some(invalid));
    expect(cluster.group('default')!.status!.conditions!.find(invalid)!.observedGeneration).toBe(2);
    cluster.applyService(service('b', { day: 2 }));
    await settle();
    expect([ingress('a'), ingress('b')]).toEqual([['10.0.0.1'], ['10.0.0.2']]);
    expect(serviceWrites()).toEqual([`status ${NS}/a`, `status ${NS}/b`]);
  });
});

describe('namespace scopes', () => {
  const GOLD = { pool: '10.0.1.1-10.0.1.3', subnet: '10.0.1.0/24', aggregation: 'default' };
  const nsObject = (labels: Record<string, string>) => ({ metadata: { name: NS, labels } });

  test('Namespaces are watched only once a group selects them by label; a relabel re-decides their Services', async () => {
    const { cluster, controller, settle, ingress, notes } = setup();
    await controller.startLeading();
    await settle();
    expect(cluster.namespaceWatches).toBe(0);
    cluster.namespaceCache.put(nsObject({ tenant: 'silver' }));
    cluster.applyGroup(
      'gold',
      { v4pool: GOLD },
      { serviceAllocation: { namespaceSelectors: [{ matchLabels: { tenant: 'gold' } }] } },
    );
    await settle();
    expect(cluster.namespaceWatches).toBe(1);
    cluster.applyService(service('a', { annotations: { 'purelb.io/service-group': 'gold' } }));
    await settle();
    expect(ingress('a')).toEqual([]);
    expect(notes('a', 'AllocationFailed')).toEqual([
      expect.stringContaining(`namespace ${NS} is not in serviceAllocation.namespaceSelectors`),
    ]);
    cluster.namespaceCache.put(nsObject({ tenant: 'gold' }));
    await settle();
    expect(ingress('a')).toEqual(['10.0.1.1']);
    // narrowed by a relabel: kept, warned, listed on the group
    cluster.namespaceCache.put(nsObject({ tenant: 'bronze' }));
    await settle();
    expect(ingress('a')).toEqual(['10.0.1.1']);
    expect(notes('a', 'ConfigurationWarning')).toEqual([
      expect.stringContaining('keeps 10.0.1.1 of ServiceGroup gold although'),
    ]);
    const listed = (c: { type: string; status: string; message?: string }) =>
      c.type === 'HoldersOutOfScope' && c.status === 'True' && !!c.message?.includes(`${NS}/a 10.0.1.1`);
    await until('HoldersOutOfScope lists the holder', () => !!cluster.group('gold')?.status?.conditions?.some(listed));
    expect(cluster.namespaceWatches).toBe(1);
  });
});
