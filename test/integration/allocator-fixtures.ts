// Shared steps of the allocator integration tests: ServiceGroups and Services on the real apiserver,
// reading back addresses, annotations, events and ServiceGroup status, and running the allocator
// in-process or as a real `purelb allocator` child process.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  type V1Service,
  type V1ServiceSpec,
} from '@kubernetes/client-node';
import { createAllocatorController, type AllocatorController } from '../../src/allocator/controller.ts';
import { createAllocatorMetrics } from '../../src/allocator/metrics.ts';
import type { ServiceGroup } from '../../src/api/types.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { createLogger } from '../../src/log.ts';
import { kubeClient, waitFor } from '../harness/kube.ts';

export const sgApi = { group: GROUP, version: VERSION, plural: 'servicegroups' } as const;

export async function putServiceGroup(
  kc: KubeConfig,
  namespace: string,
  name: string,
  local: Record<string, unknown>,
  /** Other spec fields, e.g. autoAssign and serviceAllocation. */
  extra: Record<string, unknown> = {},
): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const body = {
    apiVersion: 'purelb.io/v1',
    kind: 'ServiceGroup',
    metadata: { name, namespace },
    spec: { local, ...extra },
  };
  // the allocator writes the group's status meanwhile: a replace may meet a 409 and is retried
  for (let attempt = 0; ; attempt++) {
    try {
      const current = (await custom.getNamespacedCustomObject({ ...sgApi, namespace, name })) as ServiceGroup;
      await custom.replaceNamespacedCustomObject({
        ...sgApi,
        namespace,
        name,
        body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
      });
      return;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) {
        await custom.createNamespacedCustomObject({ ...sgApi, namespace, body });
        return;
      }
      if (code !== 409 || attempt >= 5) throw err;
    }
  }
}

export const getServiceGroup = (kc: KubeConfig, namespace: string, name: string) =>
  kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ ...sgApi, namespace, name }) as Promise<ServiceGroup>;

/** Waits until the group's status has condition `type` with `status`; returns that condition. */
export const waitForCondition = (
  kc: KubeConfig,
  namespace: string,
  name: string,
  type: string,
  status: 'True' | 'False',
) =>
  waitFor(`${type}=${status} on ServiceGroup ${name}`, async () =>
    (await getServiceGroup(kc, namespace, name)).status?.conditions?.find(
      (c) => c.type === type && c.status === status,
    ),
  );

export interface ServiceOptions {
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  families?: Array<'IPv4' | 'IPv6'>;
  policy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  ports?: Array<[string, number]>;
  lbClass?: string;
  type?: string;
}

export function serviceBody(name: string, o: ServiceOptions = {}): V1Service {
  const spec: V1ServiceSpec = {
    type: o.type ?? 'LoadBalancer',
    ports: (o.ports ?? [['TCP', 80]]).map(([protocol, port]) => ({
      name: `${protocol.toLowerCase()}-${port}`,
      protocol,
      port,
    })),
  };
  if (o.families) spec.ipFamilies = o.families;
  if (o.policy) spec.ipFamilyPolicy = o.policy;
  if (o.lbClass) spec.loadBalancerClass = o.lbClass;
  return { metadata: { name, annotations: o.annotations ?? {}, ...(o.labels ? { labels: o.labels } : {}) }, spec };
}

export const createService = (kc: KubeConfig, namespace: string, name: string, o: ServiceOptions = {}) =>
  kc.makeApiClient(CoreV1Api).createNamespacedService({ namespace, body: serviceBody(name, o) });

export const readService = (kc: KubeConfig, namespace: string, name: string) =>
  kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace, name });

export const ingressOf = (svc: V1Service) => (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');

export const ownAnnotations = (svc: V1Service) =>
  Object.fromEntries(
    Object.entries(svc.metadata?.annotations ?? {}).filter(
      ([k]) => k === 'purelb.io/allocated-by' || k === 'purelb.io/allocated-from',
    ),
  );

/**
 * Waits until the Service's ingress is exactly `ips` and, when `group` is given, its annotations are
 * exactly allocated-by PureLB / allocated-from group (status and annotations are two writes).
 */
export function waitForIngress(
  kc: KubeConfig,
  namespace: string,
  name: string,
  ips: string[],
  group?: string,
  timeoutMs = 20_000,
): Promise<V1Service> {
  const annotations =
    group === undefined
      ? undefined
      : JSON.stringify({ 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': group });
  return waitFor(
    `${namespace}/${name} ingress ${JSON.stringify(ips)}${annotations ? ` and annotations ${annotations}` : ''}`,
    async () => {
      const svc = await readService(kc, namespace, name);
      return JSON.stringify(ingressOf(svc)) === JSON.stringify(ips) &&
        (!annotations || JSON.stringify(ownAnnotations(svc)) === annotations)
        ? svc
        : undefined;
    },
    timeoutMs,
  );
}

/** Notes of the events about an object, optionally of one reason, oldest first. */
export async function eventNotes(kc: KubeConfig, namespace: string, name: string, reason?: string): Promise<string[]> {
  const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
  return list.items
    .filter((e) => e.regarding?.name === name && (!reason || e.reason === reason))
    .sort((a, b) => new Date(a.eventTime ?? 0).getTime() - new Date(b.eventTime ?? 0).getTime())
    .map((e) => e.note ?? '');
}

export const waitForEvent = (kc: KubeConfig, namespace: string, name: string, reason: string, text: string) =>
  waitFor(`${reason} event on ${name} containing "${text}"`, async () =>
    (await eventNotes(kc, namespace, name, reason)).find((n) => n.includes(text)),
  );

/** The allocator in this process, leading at once, for the Services and ServiceGroups of one namespace. */
export async function startInProcess(kc: KubeConfig, namespace: string): Promise<AllocatorController> {
  const controller = createAllocatorController({
    kc: kubeClient(kc),
    namespace,
    serviceNamespace: namespace,
    lbClass: 'purelb.io/purelb',
    statusDelayMs: 50,
    log: createLogger('allocator-test', { namespace }),
    metrics: createAllocatorMetrics(),
  });
  await controller.startLeading();
  return controller;
}

export interface AllocatorProcess {
  child: ChildProcess;
  identity: string;
  /** stderr lines (JSON logs) so far. */
  logs: string[];
  exited: Promise<number | null>;
}

/** `purelb allocator` as a real child process (leader election on, short timers), for the Services of
 * `serviceNamespace` (default: the install namespace `namespace`). */
export function spawnAllocator(
  kubeconfig: string,
  namespace: string,
  identity: string,
  extra: string[] = [],
  serviceNamespace = namespace,
): AllocatorProcess {
  // the Node running jest is the pinned Node 24 (npm scripts); spawning it directly makes child.pid the allocator itself
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'bin/purelb.js'),
      'allocator',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--service-namespace',
      serviceNamespace,
      '--identity',
      identity,
      '--health-host',
      '127.0.0.1',
      '--health-port',
      '0',
      '--lease-duration',
      '4',
      '--renew-deadline',
      '3',
      '--retry-period',
      '1',
      ...extra,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logs: string[] = [];
  let partial = '';
  child.stderr.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    logs.push(...lines);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, identity, logs, exited };
}
