// Pools per tenant against the real apiserver: a group scoped by spec.serviceAllocation admits the
// Services inside it and refuses the others with a Warning event; a namespace default replaces
// "default"; a reserved group (autoAssign false) is used only when named; a restarted allocator moves
// nothing; narrowing a scope (group edit or namespace relabel) keeps the addresses held and lists them;
// the contradictions CEL can see are refused at admission, the others by the Valid condition.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { kubeAllocatorCluster } from '../../src/allocator/cluster.ts';
import type { AllocatorController } from '../../src/allocator/controller.ts';
import { createLogger } from '../../src/log.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import type { StatusReport } from '../../src/status/report.ts';
import {
  adminKubeConfig,
  applyCRDs,
  cleanUpNamespaces,
  freshNamespace,
  kubeClient,
  mergePatch,
  waitFor,
} from '../harness/kube.ts';
import {
  createService,
  eventNotes,
  ingressOf,
  putServiceGroup,
  readService,
  sgApi,
  startInProcess,
  waitForCondition,
  waitForEvent,
  waitForIngress,
} from './allocator-fixtures.ts';

let kc: KubeConfig;
let ns: string;
let allocator: AllocatorController | undefined;

const pool = (octet: number) => ({
  v4pool: { pool: `10.90.${octet}.1-10.90.${octet}.9`, subnet: `10.90.${octet}.0/24` },
});

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
});

beforeEach(async () => {
  ns = await freshNamespace(kc, 'tenant');
});

afterEach(async () => {
  await allocator?.stop();
  allocator = undefined;
});

afterAll(cleanUpNamespaces);

const labelNamespace = (labels: Record<string, string | null>) =>
  kc.makeApiClient(CoreV1Api).patchNamespace({ name: ns, body: { metadata: { labels } } }, mergePatch);

describe('scope', () => {
  test('allowed, refused with an event, namespace default, reserved group; a restart moves nothing', async () => {
    await putServiceGroup(kc, ns, 'default', pool(1));
    await putServiceGroup(kc, ns, 'mine', pool(2), { serviceAllocation: { namespaces: [ns], namespaceDefault: true } });
    await putServiceGroup(kc, ns, 'elsewhere', pool(3), { serviceAllocation: { namespaces: ['other-team'] } });
    await putServiceGroup(kc, ns, 'web', pool(4), {
      serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: 'web' } }] },
    });
    await putServiceGroup(kc, ns, 'reserved', pool(5), { autoAssign: false });
    allocator = await startInProcess(kc, ns);

    // no group named: the namespace default, not "default"
    await createService(kc, ns, 'plain');
    await waitForIngress(kc, ns, 'plain', ['10.90.2.1'], 'mine');
    // allowed by the Service selector
    await createService(kc, ns, 'front', {
      labels: { tier: 'web' },
      annotations: { 'purelb.io/service-group': 'web' },
    });
    await waitForIngress(kc, ns, 'front', ['10.90.4.1'], 'web');
    // reserved: granted when named
    await createService(kc, ns, 'special', { annotations: { 'purelb.io/service-group': 'reserved' } });
    await waitForIngress(kc, ns, 'special', ['10.90.5.1'], 'reserved');
    // refused: the namespace is not listed; the event names Service, group, field and fix
    await createService(kc, ns, 'intruder', { annotations: { 'purelb.io/service-group': 'elsewhere' } });
    const note = await waitForEvent(kc, ns, 'intruder', 'AllocationFailed', 'may not use ServiceGroup elsewhere');
    expect(note).toBe(
      `Service ${ns}/intruder may not use ServiceGroup elsewhere (purelb.io/service-group): namespace ${ns} is not in serviceAllocation.namespaces [other-team] of ServiceGroup elsewhere; name a group that admits it in purelb.io/service-group, or widen spec.serviceAllocation of ServiceGroup elsewhere`,
    );
    // refused: the labels match no Service selector
    await createService(kc, ns, 'backend', { annotations: { 'purelb.io/service-group': 'web' } });
    await waitForEvent(kc, ns, 'backend', 'AllocationFailed', 'its labels match no serviceAllocation.serviceSelectors');
    await allocator.idle();
    expect(ingressOf(await readService(kc, ns, 'intruder'))).toEqual([]);
    expect(ingressOf(await readService(kc, ns, 'backend'))).toEqual([]);
    // `purelb status` tells the same: both pending, each with its allocator's note
    const { stdout } = await promisify(execFile)(process.execPath, [
      ...[join(repoRoot, 'bin', 'purelb.js'), 'status', '--kubeconfig', process.env.PURELB_TEST_KUBECONFIG!],
      ...['--namespace', ns, '-o', 'json'],
    ]);
    const pending = (JSON.parse(stdout) as StatusReport).pending.filter((p) => p.service.startsWith(`${ns}/`));
    expect(pending).toEqual([
      {
        service: `${ns}/backend`,
        why: expect.stringContaining('its labels match no serviceAllocation.serviceSelectors'),
      },
      { service: `${ns}/intruder`, why: note },
    ]);

    // a fixed label brings the refused Service in scope
    await kc
      .makeApiClient(CoreV1Api)
      .patchNamespacedService(
        { namespace: ns, name: 'backend', body: { metadata: { labels: { tier: 'web' } } } },
        mergePatch,
      );
    await waitForIngress(kc, ns, 'backend', ['10.90.4.2'], 'web');

    // restart: the new allocator rebuilds from Service status and moves nothing
    await allocator.stop();
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'after');
    await waitForIngress(kc, ns, 'after', ['10.90.2.2'], 'mine');
    await allocator.idle();
    for (const [name, ip] of [
      ['plain', '10.90.2.1'],
      ['front', '10.90.4.1'],
      ['special', '10.90.5.1'],
      ['backend', '10.90.4.2'],
    ] as const)
      expect(ingressOf(await readService(kc, ns, name))).toEqual([ip]);
    expect(ingressOf(await readService(kc, ns, 'intruder'))).toEqual([]);
  });

  test('scope narrowed while addresses are held: kept, warned, listed; new Services refused; widening clears it', async () => {
    await putServiceGroup(kc, ns, 'default', pool(11));
    await putServiceGroup(kc, ns, 'team', pool(12), { serviceAllocation: { namespaces: [ns] } });
    await labelNamespace({ tenant: 'gold' });
    await putServiceGroup(kc, ns, 'gold', pool(13), {
      serviceAllocation: { namespaceSelectors: [{ matchLabels: { tenant: 'gold' } }] },
    });
    await putServiceGroup(kc, ns, 'home', pool(14), {
      serviceAllocation: { namespaces: [ns], namespaceDefault: true },
    });
    allocator = await startInProcess(kc, ns);
    await createService(kc, ns, 'a', { annotations: { 'purelb.io/service-group': 'team' } });
    await waitForIngress(kc, ns, 'a', ['10.90.12.1'], 'team');
    await createService(kc, ns, 'u');
    await waitForIngress(kc, ns, 'u', ['10.90.14.1'], 'home');
    await createService(kc, ns, 'g', { annotations: { 'purelb.io/service-group': 'gold' } });
    await waitForIngress(kc, ns, 'g', ['10.90.13.1'], 'gold');

    // the group edit narrows the scope: the address stays, the Service and the group say so
    await putServiceGroup(kc, ns, 'team', pool(12), { serviceAllocation: { namespaces: ['someone-else'] } });
    await waitForEvent(kc, ns, 'a', 'ConfigurationWarning', 'keeps 10.90.12.1 of ServiceGroup team although');
    expect((await waitForCondition(kc, ns, 'team', 'HoldersOutOfScope', 'True')).message).toContain(
      `${ns}/a 10.90.12.1`,
    );
    expect(ingressOf(await readService(kc, ns, 'a'))).toEqual(['10.90.12.1']);
    await createService(kc, ns, 'b', { annotations: { 'purelb.io/service-group': 'team' } });
    await waitForEvent(kc, ns, 'b', 'AllocationFailed', 'may not use ServiceGroup team');

    // the namespace default narrowed: its unannotated holder keeps the address; new ones get "default"
    await putServiceGroup(kc, ns, 'home', pool(14), { serviceAllocation: { namespaces: ['someone-else'] } });
    await waitForEvent(kc, ns, 'u', 'ConfigurationWarning', 'keeps 10.90.14.1 of ServiceGroup home although');
    await waitForCondition(kc, ns, 'home', 'HoldersOutOfScope', 'True');
    await createService(kc, ns, 'v');
    await waitForIngress(kc, ns, 'v', ['10.90.11.1'], 'default');
    expect(ingressOf(await readService(kc, ns, 'u'))).toEqual(['10.90.14.1']);

    // relabelling the namespace narrows the label-selected group the same way
    await labelNamespace({ tenant: 'silver' });
    await waitForEvent(kc, ns, 'g', 'ConfigurationWarning', 'keeps 10.90.13.1 of ServiceGroup gold although');
    await waitForCondition(kc, ns, 'gold', 'HoldersOutOfScope', 'True');
    expect(ingressOf(await readService(kc, ns, 'g'))).toEqual(['10.90.13.1']);

    // a restart keeps them all and rebuilds the same conditions
    await allocator.stop();
    allocator = await startInProcess(kc, ns);
    await allocator.idle();
    expect(ingressOf(await readService(kc, ns, 'a'))).toEqual(['10.90.12.1']);
    expect(ingressOf(await readService(kc, ns, 'g'))).toEqual(['10.90.13.1']);
    expect(ingressOf(await readService(kc, ns, 'b'))).toEqual([]);
    expect(ingressOf(await readService(kc, ns, 'u'))).toEqual(['10.90.14.1']);

    // widening again admits the waiting Service and clears the condition
    await putServiceGroup(kc, ns, 'team', pool(12), { serviceAllocation: { namespaces: [ns, 'someone-else'] } });
    await waitForIngress(kc, ns, 'b', ['10.90.12.2'], 'team');
    await waitForCondition(kc, ns, 'team', 'HoldersOutOfScope', 'False');
    await labelNamespace({ tenant: 'gold' });
    await waitForCondition(kc, ns, 'gold', 'HoldersOutOfScope', 'False');
    for (const name of ['a', 'g', 'u']) expect(await eventNotes(kc, ns, name, 'AddressReleased')).toEqual([]);
  });
});

describe('namespace watch', () => {
  test('is metadata-only: labels arrive (LIST and WATCH), spec and status do not', async () => {
    await labelNamespace({ tenant: 'gold' });
    const cluster = kubeAllocatorCluster(kubeClient(kc), ns, createLogger('allocator-test', { namespace: ns }), ns);
    const cache = cluster.namespaces();
    try {
      await cache.synced;
      const listed = cache.get(ns) as {
        metadata?: { labels?: Record<string, string> };
        spec?: unknown;
        status?: unknown;
      };
      expect(listed.metadata?.labels).toMatchObject({ tenant: 'gold' });
      expect([listed.spec, listed.status]).toEqual([undefined, undefined]);
      await labelNamespace({ tenant: 'silver' });
      const watched = await waitFor('relabelled namespace in the cache', async () => {
        const o = cache.get(ns) as typeof listed;
        return o.metadata?.labels?.tenant === 'silver' ? o : undefined;
      });
      expect([watched.spec, watched.status]).toEqual([undefined, undefined]);
    } finally {
      await cluster.stop();
    }
  });
});

describe('contradictions', () => {
  const create = (name: string, spec: Record<string, unknown>) =>
    kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      ...sgApi,
      namespace: ns,
      body: {
        apiVersion: 'purelb.io/v1',
        kind: 'ServiceGroup',
        metadata: { name },
        spec: { local: pool(20), ...spec },
      },
    });
  const refusal = async (name: string, spec: Record<string, unknown>) => {
    try {
      await create(name, spec);
      return '';
    } catch (err) {
      return (JSON.parse((err as { body?: string }).body ?? '{}') as { message?: string }).message ?? '';
    }
  };

  test.each([
    ['default', { autoAssign: false }, 'the ServiceGroup named "default" serves Services that name no group'],
    [
      'both',
      { autoAssign: false, serviceAllocation: { namespaces: ['a'], namespaceDefault: true } },
      'autoAssign false (reserved) contradicts serviceAllocation.namespaceDefault true',
    ],
    ['nolist', { serviceAllocation: { namespaceDefault: true } }, 'namespaceDefault needs namespaces'],
    [
      'noval',
      { serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] } },
      'In and NotIn need values',
    ],
    [
      'badop',
      {
        serviceAllocation: {
          serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }],
        },
      },
      'Unsupported value: "Equals"',
    ],
  ])('%s is refused at admission', async (name, spec, message) => {
    expect(await refusal(name, spec)).toContain(message);
  });

  test('two namespace defaults for one namespace: the later group is not served (Valid False, ParseFailed)', async () => {
    await putServiceGroup(kc, ns, 'first', pool(21), {
      serviceAllocation: { namespaces: [ns], namespaceDefault: true },
    });
    await putServiceGroup(kc, ns, 'second', pool(22), {
      serviceAllocation: { namespaces: [ns], namespaceDefault: true },
    });
    allocator = await startInProcess(kc, ns);
    const valid = await waitForCondition(kc, ns, 'second', 'Valid', 'False');
    expect(valid.message).toContain(
      `spec.serviceAllocation.namespaceDefault: true, but ServiceGroup ${ns}/first is already the default of namespace ${ns}`,
    );
    await waitForEvent(kc, ns, 'second', 'ParseFailed', 'already the default of namespace');
    await createService(kc, ns, 'x');
    await waitForIngress(kc, ns, 'x', ['10.90.21.1'], 'first');
  });
});
