// The product's REST client (src/k8s/rest.ts) against the real apiserver: the harness's kubeconfig read by
// our reader, LIST pages, the apiserver's errors as codes and messages, merge patch, server-side apply
// with field managers, a service-account token, MicroTime, and WATCH. A 410 Gone needs an etcd compaction
// (every 5 minutes: this apiserver serves a watch from resourceVersion 1 until then), so the reaction to it
// is tested against a stand-in (test/unit/k8s-rest.test.ts).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.ts';
import { KubeClient, microTime, type WatchEvent } from '../../src/k8s/rest.ts';
import {
  adminKubeConfig,
  cleanUpNamespaces,
  freshNamespace,
  kubeClient,
  serviceAccountKubeConfig,
} from '../harness/kube.ts';

let admin: KubeConfig;
let kc: KubeClient;
let ns: string;
let cms: string;

interface ConfigMap {
  metadata: {
    name: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    managedFields?: Array<{ manager: string }>;
  };
  data?: Record<string, string>;
}

const cm = (name: string, data: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data,
});

beforeAll(async () => {
  admin = adminKubeConfig();
  kc = new KubeClient(loadKubeConfig(process.env.PURELB_TEST_KUBECONFIG));
  ns = await freshNamespace(admin, 'rest');
  cms = `/api/v1/namespaces/${ns}/configmaps`;
});
afterAll(cleanUpNamespaces);

test('LIST in pages: limit and the continue token, under the wire name metadata.continue', async () => {
  for (const name of ['a', 'b', 'c', 'd', 'e']) await kc.create(cms, cm(name));
  const names: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await kc.list<ConfigMap>(cms, { query: { limit: 2, continue: token } });
    names.push(...page.items.map((o) => o.metadata.name));
    token = page.metadata?.continue;
    pages++;
  } while (token);
  expect(pages).toBe(3);
  expect(names.filter((n) => n.length === 1)).toEqual(['a', 'b', 'c', 'd', 'e']);
});

test('errors carry the HTTP status as code and the apiserver message', async () => {
  await expect(kc.get(`${cms}/nope`)).rejects.toMatchObject({
    code: 404,
    message: expect.stringContaining('configmaps "nope" not found'),
  });
  await kc.create(cms, cm('dup'));
  await expect(kc.create(cms, cm('dup'))).rejects.toMatchObject({
    code: 409,
    message: expect.stringContaining('configmaps "dup" already exists'),
  });
});

test('merge patch sets and removes; server-side apply creates, conflicts between managers, and force takes over', async () => {
  await kc.create(cms, { ...cm('m'), metadata: { name: 'm', annotations: { keep: '1', drop: '2' } } });
  const patched = await kc.patch<ConfigMap>(`${cms}/m`, { metadata: { annotations: { drop: null } } }, 'merge');
  expect(patched.metadata.annotations).toEqual({ keep: '1' });

  const apply = (manager: string, value: string, force = false) =>
    kc.patch<ConfigMap>(`${cms}/ssa`, cm('ssa', { k: value }), 'apply', {
      query: { fieldManager: manager, ...(force ? { force: true } : {}) },
    });
  expect((await apply('first', '1')).data).toEqual({ k: '1' });
  await expect(apply('second', '2')).rejects.toMatchObject({ code: 409, message: expect.stringContaining('conflict') });
  const taken = await apply('second', '2', true);
  expect(taken.data).toEqual({ k: '2' });
  expect(taken.metadata.managedFields?.map((f) => f.manager)).toContain('second');
});

test('a service-account token authenticates (RBAC then refuses it: 403); a bad token is 401', async () => {
  await admin
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
  const sa = kubeClient(await serviceAccountKubeConfig(admin, ns, 'nobody'));
  await expect(sa.list(cms)).rejects.toMatchObject({
    code: 403,
    message: expect.stringContaining(`"system:serviceaccount:${ns}:nobody" cannot list resource "configmaps"`),
  });
  const { ca } = loadKubeConfig(process.env.PURELB_TEST_KUBECONFIG).access();
  const bad = new KubeClient({ server: kc.server, ...(ca ? { ca } : {}), token: 'not-a-token' });
  await expect(bad.list(cms)).rejects.toMatchObject({ code: 401 });
});

test('MicroTime strings are what the apiserver takes and gives back', async () => {
  const renewTime = microTime();
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
  const lease = await kc.create<{ spec: { renewTime: string } }>(leases, {
    metadata: { name: 'l' },
    spec: { holderIdentity: 'x', leaseDurationSeconds: 1, renewTime },
  });
  expect(lease.spec.renewTime).toBe(renewTime);
});

test('WATCH streams the events after a version', async () => {
  const from = (await kc.list(cms)).metadata!.resourceVersion!;
  const abort = new AbortController();
  const events: string[] = [];
  const watching = kc.watch<ConfigMap>(
    cms,
    { resourceVersion: from },
    (e: WatchEvent<ConfigMap>) => {
      events.push(`${e.type} ${e.object.metadata.name}`);
      if (events.length === 2) abort.abort();
    },
    { signal: abort.signal },
  );
  await kc.create(cms, cm('w'));
  await kc.delete(`${cms}/w`);
  await watching;
  expect(events).toEqual(['ADDED w', 'DELETED w']);
});
