// The allocator against the real apiserver, in-process: every scenario asserts the exact addresses
// and annotations the Services end up with, and the events / ServiceGroup status that explain them.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { AllocatorController } from '../../src/allocator/controller.ts';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace, mergePatch, waitFor } from '../harness/kube.ts';
import {
  createService,
  eventNotes,
  getServiceGroup,
  ingressOf,
  ownAnnotations,
  putServiceGroup,
  readService,
  startInProcess,
  waitForCondition,
  waitForEvent,
  waitForIngress,
} from './allocator-fixtures.ts';

let kc: KubeConfig;
let ns: string;
let allocator: AllocatorController | undefined;

const SEED_LOCAL = {
  v4pools: [{ aggregation: 'default', pool: '192.168.10.240-192.168.10.243', subnet: '192.168.10.0/24' }],
  v6pools: [{ aggregation: 'default', pool: 'fc00:270:154:0:8100::4/64', subnet: 'fc00:270:154::/64' }],
};
const SEED_SINGULAR = { v4pool: { subnet: '10.31.188.64/26', pool: '10.31.188.64-10.31.188.126', aggregation: '/32' } };

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
});

beforeEach(async () => {
  ns = await freshNamespace(kc, 'alloc');
});

afterEach(async () => {
  await allocator?.stop();
  allocator = undefined;
});

afterAll(cleanUpNamespaces);

const core = () => kc.makeApiClient(CoreV1Api);
const annotate = (name: string, annotations: Record<string, string | null>) =>
  core().patchNamespacedService({ namespace: ns, name, body: { metadata: { annotations } } }, mergePatch);

describe('PureLB v1 seed manifests', () => {
  test('the seed groups apply unchanged; addresses are handed out lowest first in creation order, dual stack from v4pools/v6pools', async () => {
    await putServiceGroup(kc, ns, 'default', SEED_SINGULAR);
    await putServiceGroup(kc, ns, 'localaddrange', SEED_LOCAL);
    allocator = await startInProcess(kc, ns);
    for (const name of ['a', 'b', 'c']) {
      await createService(kc, ns, name);
      await waitForIngress(kc, ns, name, [`10.31.188.${64 + ['a', 'b', 'c'].indexOf(name)}`], 'default');
    }

    await createService(kc, ns, 'dual', {
      families: ['IPv4', 'IPv6'],
      policy: 'RequireDualStack',
      annotations: { 'purelb.io/service-group': 'localaddrange' },
    });
    await waitForIngress(kc, ns, 'dual', ['192.168.10.240', 'fc00:270:154:0:8100::4'], 'localaddrange');
    await waitForEvent(
      kc,
      ns,
      'dual',
      'AddressAssigned',
      'Assigned 192.168.10.240, fc00:270:154:0:8100::4 from ServiceGroup localaddrange',
    );

    // status subresource: counts per family and the Valid condition
    const sg = await waitFor('localaddrange status counts', async () => {
      const g = await getServiceGroup(kc, ns, 'localaddrange');
      return g.status?.allocatedIPv4 === 1 ? g : undefined;
    });
    expect(sg.status).toMatchObject({
      allocatedIPv4: 1,
      availableIPv4: 3,
      allocatedIPv6: 1,
      availableIPv6: Number.MAX_SAFE_INTEGER,
      conditions: expect.arrayContaining([
        expect.objectContaining({ type: 'Valid', status: 'True', reason: 'Parsed' }),
      ]),
    });
    await waitForEvent(kc, ns, 'default', 'Parsed', 'serving generation 1: 1 IPv4 and 0 IPv6 pools');
  });
});

describe('families', () => {
  test('RequireDualStack against a v4-only group fails with an event; PreferDualStack degrades to IPv4', async () => {
    await putServiceGroup(kc, ns, 'default', SEED_SINGULAR);
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'require', { families: ['IPv4', 'IPv6'], policy: 'RequireDualStack' });
    await createService(kc, ns, 'prefer', { families: ['IPv6', 'IPv4'], policy: 'PreferDualStack' });
    await waitForIngress(kc, ns, 'prefer', ['10.31.188.64'], 'default');
    await waitForEvent(
      kc,
      ns,
      'prefer',
      'ConfigurationWarning',
      'PreferDualStack: ServiceGroup default has no IPv6 pool; assigned IPv4 only',
    );
    await waitForEvent(kc, ns, 'require', 'AllocationFailed', 'ServiceGroup default has no IPv6 pool');
    const require = await readService(kc, ns, 'require');
    expect(ingressOf(require)).toEqual([]);
    expect(ownAnnotations(require)).toEqual({});
  });
});

describe('family transitions', () => {
  test('upgrading a Service to dual stack adds an IPv6 address and keeps the IPv4 one', async () => {
    await putServiceGroup(kc, ns, 'default', SEED_LOCAL);
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'grow', { families: ['IPv4'], policy: 'SingleStack' });
    await waitForIngress(kc, ns, 'grow', ['192.168.10.240'], 'default');
    await core().patchNamespacedService(
      {
        namespace: ns,
        name: 'grow',
        body: { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } },
      },
      mergePatch,
    );
    await waitForIngress(kc, ns, 'grow', ['192.168.10.240', 'fc00:270:154:0:8100::4'], 'default');
    await waitForEvent(
      kc,
      ns,
      'grow',
      'AddressAssigned',
      'Assigned fc00:270:154:0:8100::4 from ServiceGroup default (keeps 192.168.10.240)',
    );
  });
});

describe('requested addresses', () => {
  test('inside a pool is granted (trimmed list, loadBalancerIP too); outside every pool or taken is refused with an event', async () => {
    await putServiceGroup(kc, ns, 'default', SEED_SINGULAR);
    await putServiceGroup(kc, ns, 'localaddrange', SEED_LOCAL);
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'pinned', { annotations: { 'purelb.io/addresses': ' 192.168.10.242 ' } });
    await waitForIngress(kc, ns, 'pinned', ['192.168.10.242'], 'localaddrange');
    await core().createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'legacy' },
        spec: { type: 'LoadBalancer', loadBalancerIP: '10.31.188.100', ports: [{ port: 80 }] },
      },
    });
    await waitForIngress(kc, ns, 'legacy', ['10.31.188.100']);

    await createService(kc, ns, 'outside', { annotations: { 'purelb.io/addresses': '10.99.0.1' } });
    await waitForEvent(
      kc,
      ns,
      'outside',
      'AllocationFailed',
      'purelb.io/addresses asks for 10.99.0.1, which is in no ServiceGroup pool',
    );
    await createService(kc, ns, 'taken', { annotations: { 'purelb.io/addresses': '192.168.10.242' } });
    await waitForEvent(kc, ns, 'taken', 'AllocationFailed', `192.168.10.242 is in use by ${ns}/pinned`);
    for (const name of ['outside', 'taken']) expect(ingressOf(await readService(kc, ns, name))).toEqual([]);

    // the taken address becomes the Service's once its holder is deleted
    await core().deleteNamespacedService({ namespace: ns, name: 'pinned' });
    await waitForIngress(kc, ns, 'taken', ['192.168.10.242'], 'localaddrange');
  });
});

describe('sharing', () => {
  test('same allow-shared-ip key with disjoint ports share one address; overlapping ports get an event and no address', async () => {
    await putServiceGroup(kc, ns, 'default', SEED_SINGULAR);
    allocator = await startInProcess(kc, ns);
    const key = { 'purelb.io/allow-shared-ip': 'web' };
    await createService(kc, ns, 'http', { annotations: key, ports: [['TCP', 80]] });
    await waitForIngress(kc, ns, 'http', ['10.31.188.64']);
    await createService(kc, ns, 'https', {
      annotations: key,
      ports: [
        ['TCP', 443],
        ['UDP', 443],
      ],
    });
    await waitForIngress(kc, ns, 'https', ['10.31.188.64']);
    await createService(kc, ns, 'clash', { annotations: key, ports: [['TCP', 443]] });
    await waitForEvent(
      kc,
      ns,
      'clash',
      'AllocationFailed',
      `10.31.188.64 is shared with ${ns}/https (key "web") and both use TCP/443`,
    );
    expect(ingressOf(await readService(kc, ns, 'clash'))).toEqual([]);
    await createService(kc, ns, 'plain');
    await waitForIngress(kc, ns, 'plain', ['10.31.188.65']);
  });
});

describe('exhaustion and release', () => {
  test('an exhausted pool refuses; deleting a Service frees its address for the waiting one; a type change releases', async () => {
    await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.50.0.1-10.50.0.2', subnet: '10.50.0.0/24' } });
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'one');
    await waitForIngress(kc, ns, 'one', ['10.50.0.1']);
    await createService(kc, ns, 'two');
    await waitForIngress(kc, ns, 'two', ['10.50.0.2']);
    await createService(kc, ns, 'three');
    await waitForEvent(kc, ns, 'three', 'AllocationFailed', 'ServiceGroup default has no free IPv4 address');

    await core().deleteNamespacedService({ namespace: ns, name: 'one' });
    await waitForIngress(kc, ns, 'three', ['10.50.0.1'], 'default');

    // type change away from LoadBalancer: ingress and allocated-from cleared, event, address reusable
    await core().patchNamespacedService(
      { namespace: ns, name: 'two', body: { spec: { type: 'ClusterIP' } } },
      mergePatch,
    );
    const two = await waitFor('two released', async () => {
      const svc = await readService(kc, ns, 'two');
      return ingressOf(svc).length === 0 && !svc.metadata?.annotations?.['purelb.io/allocated-from'] ? svc : undefined;
    });
    expect(ownAnnotations(two)).toEqual({ 'purelb.io/allocated-by': 'PureLB' });
    await waitForEvent(
      kc,
      ns,
      'two',
      'AddressReleased',
      'Released 10.50.0.2: the Service is type ClusterIP, not LoadBalancer',
    );
    await createService(kc, ns, 'four');
    await waitForIngress(kc, ns, 'four', ['10.50.0.2']);
  });

  test('changing service-group or addresses moves the address (the only case it moves); other edits keep it', async () => {
    await putServiceGroup(kc, ns, 'default', SEED_SINGULAR);
    await putServiceGroup(kc, ns, 'localaddrange', SEED_LOCAL);
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'mover');
    await waitForIngress(kc, ns, 'mover', ['10.31.188.64']);
    await annotate('mover', { 'example.com/unrelated': 'x' });
    await annotate('mover', { 'purelb.io/service-group': 'localaddrange' });
    await waitForIngress(kc, ns, 'mover', ['192.168.10.240'], 'localaddrange');
    await waitForEvent(kc, ns, 'mover', 'AddressReleased', 'Released 10.31.188.64');
    await annotate('mover', { 'purelb.io/addresses': '10.31.188.70' });
    await waitForIngress(kc, ns, 'mover', ['10.31.188.70'], 'default');
    // the released addresses are reusable
    await createService(kc, ns, 'next');
    await waitForIngress(kc, ns, 'next', ['10.31.188.64']);
  });
});

describe('ServiceGroup changes', () => {
  test('an invalid update is reported (ParseFailed, Valid=False) and the last valid version keeps serving; other groups unaffected', async () => {
    await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.60.0.1-10.60.0.9', subnet: '10.60.0.0/24' } });
    await putServiceGroup(kc, ns, 'other', { v4pool: { pool: '10.61.0.1-10.61.0.9', subnet: '10.61.0.0/24' } });
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'kept');
    await waitForIngress(kc, ns, 'kept', ['10.60.0.1']);
    // from > to passes admission (CEL cannot order addresses) but not the validator
    await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.60.0.9-10.60.0.1', subnet: '10.60.0.0/24' } });
    await waitForEvent(kc, ns, 'default', 'ParseFailed', 'range start 10.60.0.9 is after its end 10.60.0.1');
    expect(await waitForCondition(kc, ns, 'default', 'Valid', 'False')).toMatchObject({
      reason: 'ParseFailed',
      message: expect.stringContaining('the last valid version (generation 1, 1 IPv4 and 0 IPv6 pools) keeps serving'),
    });
    await createService(kc, ns, 'new');
    await waitForIngress(kc, ns, 'new', ['10.60.0.2']);
    await createService(kc, ns, 'elsewhere', { annotations: { 'purelb.io/service-group': 'other' } });
    await waitForIngress(kc, ns, 'elsewhere', ['10.61.0.1']);
    expect(ingressOf(await readService(kc, ns, 'kept'))).toEqual(['10.60.0.1']);
    // overlapping another group is invalid too (containment included); the incumbent wins
    await putServiceGroup(kc, ns, 'other', { v4pool: { pool: '10.60.0.0/24', subnet: '10.60.0.0/24' } });
    await waitForEvent(
      kc,
      ns,
      'other',
      'ParseFailed',
      'overlaps 10.60.0.1-10.60.0.9 at spec.local.v4pool of ServiceGroup',
    );
  });

  test('a pool edit never moves an address: one left outside every pool is kept and reported', async () => {
    await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.70.0.1-10.70.0.9', subnet: '10.70.0.0/24' } });
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'first');
    await waitForIngress(kc, ns, 'first', ['10.70.0.1']);
    await createService(kc, ns, 'second');
    await waitForIngress(kc, ns, 'second', ['10.70.0.2']);
    await putServiceGroup(kc, ns, 'default', { v4pool: { pool: '10.70.0.2-10.70.0.9', subnet: '10.70.0.0/24' } });
    await waitForEvent(kc, ns, 'first', 'ConfigurationWarning', '10.70.0.1 is outside every pool');
    expect((await waitForCondition(kc, ns, 'default', 'AddressesOutsidePools', 'True')).message).toContain(
      `${ns}/first 10.70.0.1`,
    );
    expect((await getServiceGroup(kc, ns, 'default')).status).toMatchObject({ allocatedIPv4: 1, availableIPv4: 7 });
    expect(ingressOf(await readService(kc, ns, 'first'))).toEqual(['10.70.0.1']);
    await createService(kc, ns, 'third');
    await waitForIngress(kc, ns, 'third', ['10.70.0.3']);
    expect(ingressOf(await readService(kc, ns, 'second'))).toEqual(['10.70.0.2']);
    // a restarted allocator rebuilds the same picture: nothing moves, the outside address stays reported
    await allocator.stop();
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'fourth');
    await waitForIngress(kc, ns, 'fourth', ['10.70.0.4'], 'default');
    await allocator.idle();
    for (const [name, ip] of [
      ['first', '10.70.0.1'],
      ['second', '10.70.0.2'],
      ['third', '10.70.0.3'],
    ] as const) {
      expect(ingressOf(await readService(kc, ns, name))).toEqual([ip]);
    }
    expect((await waitForCondition(kc, ns, 'default', 'AddressesOutsidePools', 'True')).message).toContain(
      `${ns}/first 10.70.0.1`,
    );
    // deleting the Service holding it clears the condition
    await core().deleteNamespacedService({ namespace: ns, name: 'first' });
    await waitForCondition(kc, ns, 'default', 'AddressesOutsidePools', 'False');
  });
});

describe('classes and events', () => {
  test('Services of another loadBalancerClass are untouched; an unchanged state repeats no event', async () => {
    await putServiceGroup(kc, ns, 'default', SEED_SINGULAR);
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'foreign', { lbClass: 'example.com/other' });
    await createService(kc, ns, 'ours', { lbClass: 'purelb.io/purelb' });
    await waitForIngress(kc, ns, 'ours', ['10.31.188.64']);
    await createService(kc, ns, 'failing', { annotations: { 'purelb.io/service-group': 'missing' } });
    await waitForEvent(kc, ns, 'failing', 'AllocationFailed', 'ServiceGroup "missing", which does not exist');
    // touch both a few times: no new events, no writes to the foreign Service
    for (let i = 0; i < 3; i++) {
      await annotate('ours', { 'example.com/touch': String(i) });
      await annotate('failing', { 'example.com/touch': String(i) });
    }
    await allocator.idle();
    let foreign = await readService(kc, ns, 'foreign');
    expect(ingressOf(foreign)).toEqual([]);
    expect(ownAnnotations(foreign)).toEqual({});
    expect(await eventNotes(kc, ns, 'foreign')).toEqual([]);
    // an address another controller gave its Service inside our pool is never handed out while in use
    await core().patchNamespacedServiceStatus(
      { namespace: ns, name: 'foreign', body: { status: { loadBalancer: { ingress: [{ ip: '10.31.188.65' }] } } } },
      mergePatch,
    );
    // (one watch delivers both changes in order, and the queue decides in arrival order)
    await createService(kc, ns, 'next');
    await waitForIngress(kc, ns, 'next', ['10.31.188.66'], 'default');
    foreign = await readService(kc, ns, 'foreign');
    expect([ingressOf(foreign), ownAnnotations(foreign)]).toEqual([['10.31.188.65'], {}]);
    expect(await eventNotes(kc, ns, 'ours')).toEqual([`Assigned 10.31.188.64 from ServiceGroup default`]);
    expect(await eventNotes(kc, ns, 'failing')).toHaveLength(1);
  });
});
