// Proves the harness is a real apiserver: CRDs become Established, custom objects and Services are
// observed by our informers (src/k8s/informer.ts), status patches round-trip, and RBAC refuses a role-less account.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1Service,
} from '@kubernetes/client-node';
import { watchCache } from '../../src/k8s/informer.ts';
import { createLogger } from '../../src/log.ts';
import {
  adminKubeConfig,
  applyCRDs,
  cleanUpNamespaces,
  freshNamespace,
  kubeClient,
  serviceAccountKubeConfig,
  waitFor,
} from '../harness/kube.ts';

let kc: KubeConfig;
let ns: string;

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
});

beforeEach(async () => {
  ns = await freshNamespace(kc, 'smoke');
});

afterAll(cleanUpNamespaces);

test('ServiceGroup and LoadBalancer Service are seen by informers; status.loadBalancer round-trips', async () => {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const log = createLogger('smoke-test');
  const seenGroups: string[] = [];
  const seenServices: string[] = [];
  const groups = watchCache<KubernetesObject>(kubeClient(kc), `/apis/purelb.io/v1/namespaces/${ns}/servicegroups`, log);
  const services = watchCache<V1Service>(kubeClient(kc), `/api/v1/namespaces/${ns}/services`, log);
  groups.onChange((o, kind) => kind === 'add' && seenGroups.push(o?.metadata?.name ?? ''));
  services.onChange((s, kind) => kind === 'add' && seenServices.push(s?.metadata?.name ?? ''));
  await Promise.all([groups.synced, services.synced]);
  try {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'servicegroups',
      body: {
        apiVersion: 'purelb.io/v1',
        kind: 'ServiceGroup',
        metadata: { name: 'localaddrange' },
        spec: {
          local: {
            v4pools: [{ aggregation: 'default', pool: '192.168.10.240-192.168.10.243', subnet: '192.168.10.0/24' }],
          },
        },
      },
    });
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] } },
    });
    await waitFor(
      'informer add events',
      async () => seenGroups.includes('localaddrange') && seenServices.includes('web'),
    );

    await core.patchNamespacedServiceStatus(
      { name: 'web', namespace: ns, body: { status: { loadBalancer: { ingress: [{ ip: '192.168.10.240' }] } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const read = await core.readNamespacedService({ name: 'web', namespace: ns });
    // the apiserver itself defaults ipMode to VIP
    expect(read.status?.loadBalancer?.ingress?.map((i) => ({ ...i }))).toEqual([
      { ip: '192.168.10.240', ipMode: 'VIP' },
    ]);
    expect(read.spec?.clusterIP).toMatch(/^10\.96\./); // allocated by the real apiserver
    await waitFor(
      'informer cache has the patched status',
      async () => services.get('web', ns)?.status?.loadBalancer?.ingress?.[0]?.ip === '192.168.10.240',
    );
  } finally {
    await groups.stop();
    await services.stop();
  }
});

test('the CRD schema rejects a malformed ServiceGroup at admission', async () => {
  const custom = kc.makeApiClient(CustomObjectsApi);
  await expect(
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'servicegroups',
      body: {
        apiVersion: 'purelb.io/v1',
        kind: 'ServiceGroup',
        metadata: { name: 'bad' },
        spec: { local: { v4pool: { pool: 'nonsense', subnet: '10.0.0.0/8' } } },
      },
    }),
  ).rejects.toMatchObject({ code: 422 });
});

test('a service account without any role is refused with 403', async () => {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
  const sa = await serviceAccountKubeConfig(kc, ns, 'nobody');
  await expect(sa.makeApiClient(CoreV1Api).listNamespacedService({ namespace: ns })).rejects.toMatchObject({
    code: 403,
  });
  // the same call with the admin credential succeeds, so the 403 is RBAC and not a broken client
  await expect(core.listNamespacedService({ namespace: ns })).resolves.toBeDefined();
});
