// The allocator's NoEligibleNode report (src/allocator/no-eligible-report.ts) driven through the fake
// cluster port: only the leader writes, one event per transition, what triggers an evaluation (and what
// does not: a renewal), a Lease that expires without an API event, and a burst written in parts. What the
// note says is test/unit/model-no-eligible.test.ts; the real processes are
// test/integration/agent-no-eligible-node.test.ts.
import { describe, expect, test } from '@jest/globals';
import type { V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import { AllocatorController } from '../../src/allocator/controller.ts';
import { createAllocatorMetrics } from '../../src/allocator/metrics.ts';
import { NoEligibleReport } from '../../src/allocator/no-eligible-report.ts';
import { parseServiceGroup } from '../../src/api/validate-servicegroup.ts';
import { waitUntil } from '../../src/lab/wait.ts';
import { createLogger } from '../../src/log.ts';
import { FakeAllocatorCluster } from './fakes/allocator-cluster.ts';

const NS = 'apps';
const ZONED = {
  v4pools: [
    { subnet: '10.9.0.0/24', pool: '10.9.0.0/24', aggregation: '/32' },
    { subnet: '192.168.1.0/24', pool: '192.168.1.200-192.168.1.250' },
  ],
};
const SELECTS_ZONE_A = { nodeSelectors: [{ matchLabels: { zone: 'a' } }] };

interface LeaseOpts {
  zone?: string;
  outOfService?: string;
  routingRejected?: string;
  /** Milliseconds since the last renewal (default 0). */
  renewedAgoMs?: number;
  durationS?: number;
}

function lease(node: string, o: LeaseOpts = {}): V1Lease {
  return {
    metadata: {
      name: `purelb-node-${node}`,
      namespace: 'purelb',
      labels: { 'purelb.io/heartbeat': 'node' },
      annotations: {
        'purelb.io/subnets': '192.168.1.0/24',
        ...(o.zone ? { 'purelb.io/node-labels': JSON.stringify({ zone: o.zone }) } : {}),
        ...(o.outOfService ? { 'purelb.io/out-of-service': o.outOfService } : {}),
        ...(o.routingRejected ? { 'purelb.io/routing-rejected': o.routingRejected } : {}),
      },
    },
    spec: {
      holderIdentity: node,
      leaseDurationSeconds: o.durationS ?? 30,
      renewTime: new Date(Date.now() - (o.renewedAgoMs ?? 0)),
    },
  };
}

function service(name: string, ip: string, o: { etpLocal?: boolean } = {}): V1Service {
  return {
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      annotations: { 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'zoned' },
    },
    spec: { type: 'LoadBalancer', ...(o.etpLocal ? { externalTrafficPolicy: 'Local' } : {}) },
    status: { loadBalancer: { ingress: [{ ip }] } },
  };
}

const slice = (svc: string, nodes: string[]): V1EndpointSlice => ({
  addressType: 'IPv4',
  metadata: { name: `${svc}-x`, namespace: NS, labels: { 'kubernetes.io/service-name': svc } },
  endpoints: nodes.map((nodeName) => ({ addresses: [], nodeName, conditions: { ready: true } })),
});

/** Lets the report's timers (interval 0) run: a 0 ms timer set earlier always fires before this one. */
const settle = () => new Promise((r) => setTimeout(r, 20));

interface LogLine {
  msg: string;
  service?: string;
  reason?: string;
}

/** The report on its own: the fake's caches and event recorder, groups given directly. */
function setup(opts: { maxEventsPerEvaluation?: number } = {}) {
  const logs: LogLine[] = [];
  const log = createLogger('allocator-test', {}, (line) => logs.push(JSON.parse(line) as LogLine));
  const cluster = new FakeAllocatorCluster(log);
  const report = new NoEligibleReport(cluster, { log, intervalMs: 0, ...opts });
  const zoned = parseServiceGroup({
    metadata: { name: 'zoned', namespace: 'purelb' },
    spec: { local: ZONED, ...SELECTS_ZONE_A },
  }).config!;
  // how many evaluations ran: each reads the EndpointSlices once
  let evaluations = 0;
  const list = cluster.endpointSlices.list.bind(cluster.endpointSlices);
  cluster.endpointSlices.list = () => {
    evaluations++;
    return list();
  };
  const notes = () =>
    cluster.sent
      .filter((e) => e.reason === 'NoEligibleNode')
      .map((e) => `${e.regarding?.name} ${e.type} ${e.reportingController}: ${e.note}`);
  return { cluster, report, zoned, logs, notes, evaluations: () => evaluations };
}

describe('the NoEligibleNode report', () => {
  test('one Warning per Service on each transition, naming every node and its reason; a repeat of the state writes none', async () => {
    const { cluster, report, zoned, notes, logs } = setup();
    cluster.leases.put(lease('n0', { zone: 'a', outOfService: 'it is cordoned (spec.unschedulable)' }));
    cluster.leases.put(lease('n1', { zone: 'b' }));
    cluster.leases.put(lease('n2', { zone: 'a', renewedAgoMs: 60_000 }));
    cluster.applyService(service('web', '10.9.0.1'));
    report.start(() => [zoned]);
    await settle();
    const first =
      'web Warning purelb-allocator: no node may announce the virtual address 10.9.0.1 of ServiceGroup zoned:' +
      ' n0 (excluded), n1 (not selected), n2 (fenced)';
    expect(notes()).toEqual([first]);
    expect(logs.filter((l) => l.msg === 'no node may announce an address of the Service')).toEqual([
      expect.objectContaining({ service: `${NS}/web`, reason: first.split(': ').slice(1).join(': ') }),
    ]);
    // changes that leave the note as it is write nothing
    cluster.applyService(service('web', '10.9.0.1'));
    report.changed();
    await settle();
    expect(notes()).toHaveLength(1);
    // n1 moves to zone a: eligible, no event (the agent that announces it says so), and logged
    cluster.leases.put(lease('n1', { zone: 'a' }));
    await settle();
    expect(notes()).toHaveLength(1);
    expect(logs.at(-1)).toMatchObject({
      msg: 'every address of the Service has an eligible node again, or the Service is gone',
      service: `${NS}/web`,
    });
    // back to zone b: the same state as before is a new transition, with the same note
    cluster.leases.put(lease('n1', { zone: 'b' }));
    await settle();
    expect(notes()).toEqual([first, first]);
    report.stop();
  });

  test('a renewal alone evaluates nothing; a Lease that expires (no API event) does, by its expiry time', async () => {
    const { cluster, report, zoned, notes, evaluations } = setup();
    cluster.leases.put(lease('n1', { zone: 'a' }));
    cluster.applyService(service('web', '10.9.0.1'));
    report.start(() => [zoned]);
    await settle();
    expect([evaluations(), notes()]).toEqual([1, []]);
    cluster.leases.put(lease('n1', { zone: 'a' })); // renewed: a new renewTime, nothing else
    await settle();
    expect(evaluations()).toBe(1);
    // renewed for the last time: its 1 s Lease runs out 300 ms from now
    cluster.leases.put(lease('n1', { zone: 'a', durationS: 1, renewedAgoMs: 700 }));
    await settle();
    expect(notes()).toEqual([]);
    await waitUntil('the expiry to be reported', () => notes().length > 0, 5000, 10);
    expect(notes()).toEqual([
      'web Warning purelb-allocator: no node may announce the virtual address 10.9.0.1 of ServiceGroup zoned: n1 (fenced)',
    ]);
    report.stop();
  });

  test('routing rejected on every eligible node is reported for a virtual address; one node with its routing applied is enough', async () => {
    const { cluster, report, zoned, notes } = setup();
    const rejected = 'RouterConfig purelb/default: Rejected';
    cluster.leases.put(lease('n1', { zone: 'a', routingRejected: rejected }));
    cluster.leases.put(lease('n2', { zone: 'b' }));
    cluster.applyService(service('web', '10.9.0.1'));
    report.start(() => [zoned]);
    await settle();
    expect(notes()).toEqual([
      'web Warning purelb-allocator: no node may announce the virtual address 10.9.0.1 of ServiceGroup zoned:' +
        ' n1 (routing rejected), n2 (not selected)',
    ]);
    cluster.leases.put(lease('n2', { zone: 'a' }));
    await settle();
    cluster.leases.put(lease('n2', { zone: 'a', routingRejected: 'RouterConfig purelb/default: Failed' }));
    await settle();
    expect(notes()).toEqual([
      expect.stringContaining(': n1 (routing rejected), n2 (not selected)'),
      expect.stringContaining(': n1 (routing rejected), n2 (routing rejected)'),
    ]);
    report.stop();
  });

  test('ETP Local: an EndpointSlice of the Service decides; slices of other Services evaluate nothing', async () => {
    const { cluster, report, zoned, notes, evaluations } = setup();
    cluster.leases.put(lease('n1', { zone: 'a' }));
    cluster.applyService(service('local', '10.9.0.2', { etpLocal: true }));
    cluster.applyService(service('cluster', '10.9.0.3'));
    report.start(() => [zoned]);
    await settle();
    expect(notes()).toEqual([
      'local Warning purelb-allocator: no node may announce the virtual address 10.9.0.2 of ServiceGroup zoned: n1 (no endpoint)',
    ]);
    const before = evaluations();
    cluster.endpointSlices.put(slice('cluster', ['n1']));
    cluster.endpointSlices.put(slice('unknown', ['n1']));
    await settle();
    expect(evaluations()).toBe(before);
    cluster.endpointSlices.put(slice('local', ['n1']));
    await settle();
    cluster.endpointSlices.remove(slice('local', ['n1']));
    await settle();
    expect(notes()).toHaveLength(2);
    report.stop();
  });

  test('no heartbeat Lease at all (no agent installed): nothing is reported', async () => {
    const { cluster, report, zoned, notes } = setup();
    cluster.applyService(service('web', '10.9.0.1'));
    report.start(() => [zoned]);
    await settle();
    expect(notes()).toEqual([]);
    report.stop();
  });

  test('a burst is written a few events per evaluation; each Service once', async () => {
    const { cluster, report, zoned, notes, evaluations } = setup({ maxEventsPerEvaluation: 2 });
    cluster.leases.put(lease('n1', { zone: 'b' }));
    for (let i = 1; i <= 5; i++) cluster.applyService(service(`s${i}`, `10.9.0.${i}`));
    report.start(() => [zoned]);
    await waitUntil('five events', () => notes().length === 5, 5000, 10);
    await settle();
    expect(notes().map((n) => n.split(' ')[0])).toEqual(['s1', 's2', 's3', 's4', 's5']);
    expect(evaluations()).toBe(3);
    report.stop();
  });
});

describe('in the allocator', () => {
  function allocator() {
    const log = createLogger('allocator-test', {}, () => {});
    const cluster = new FakeAllocatorCluster(log);
    cluster.applyGroup('zoned', ZONED, SELECTS_ZONE_A);
    const controller = new AllocatorController(cluster, {
      namespace: cluster.namespace,
      lbClass: 'purelb.io/purelb',
      log,
      metrics: createAllocatorMetrics(),
      statusDelayMs: 0,
      noEligibleIntervalMs: 0,
    });
    const count = () => cluster.sent.filter((e) => e.reason === 'NoEligibleNode').length;
    return { cluster, controller, count };
  }

  test('only the leader reports, with the serving ServiceGroups; a new term reports the state afresh', async () => {
    const { cluster, controller, count } = allocator();
    cluster.leases.put(lease('n1', { zone: 'b' }));
    cluster.applyService(service('web', '10.9.0.1'));
    await settle();
    expect(count()).toBe(0); // standby
    await controller.startLeading();
    await waitUntil('the leader to report', () => count() === 1, 5000, 10);
    expect(cluster.sent.find((e) => e.reason === 'NoEligibleNode')?.note).toBe(
      'no node may announce the virtual address 10.9.0.1 of ServiceGroup zoned: n1 (not selected)',
    );
    controller.stopLeading();
    cluster.leases.put(lease('n1', { zone: 'c' }));
    await settle();
    expect(count()).toBe(1);
    // the same state as in the first term is reported again: this replica cannot know what another
    // leader reported meanwhile
    cluster.leases.put(lease('n1', { zone: 'b' }));
    await controller.startLeading();
    await waitUntil('the second term to report', () => count() === 2, 5000, 10);
    expect(new Set(cluster.sent.filter((e) => e.reason === 'NoEligibleNode').map((e) => e.note)).size).toBe(1);
    // the group selects every node now: eligible, nothing new
    cluster.applyGroup('zoned', ZONED);
    await settle();
    expect(count()).toBe(2);
    await controller.stop();
  });
});
