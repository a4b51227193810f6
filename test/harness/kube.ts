// Helpers for integration tests: the shared cluster's admin client, a fresh namespace per test (and
// deleting what the agents would see in it), applying CRDs, and service-account tokens minted with
// TokenRequest.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  loadAllYaml,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import { GROUP, NODE_ROUTING_STATUS_PLURAL, VERSION } from '../../src/api/names.ts';
import { KubeClient } from '../../src/k8s/rest.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import type { NodeRoutingStatus } from '../../src/routing/status.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export function adminKubeConfig(): KubeConfig {
  const path = process.env.PURELB_TEST_KUBECONFIG;
  if (!path)
    throw new Error(
      'PURELB_TEST_KUBECONFIG is not set: run integration tests through jest (globalSetup starts the apiserver)',
    );
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The product's own client (src/k8s/rest.ts) for the cluster and user of a test's client-node KubeConfig:
 * what components started in the test process take. */
export function kubeClient(kc: KubeConfig): KubeClient {
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser();
  const b64 = (data: string | undefined) => (data ? Buffer.from(data, 'base64') : undefined);
  return new KubeClient({
    server: cluster.server,
    ...(cluster.caData ? { ca: b64(cluster.caData) } : {}),
    ...(user?.certData ? { cert: b64(user.certData) } : {}),
    ...(user?.keyData ? { key: b64(user.keyData) } : {}),
    ...(user?.token ? { token: user.token } : {}),
  });
}

/** client-node's patch calls send json-patch unless told: the tests' own writes are merge patches. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Namespaces this test file made with freshNamespace (jest loads this module once per test file). */
const created: Array<{ kc: KubeConfig; name: string }> = [];

export async function freshNamespace(kc: KubeConfig, prefix = 't'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  created.push({ kc, name });
  return name;
}

const ignoreNotFound = (err: unknown) => {
  if ((err as { code?: number }).code !== 404) throw err;
};

/**
 * Deletes every Service and EndpointSlice of a namespace. All the test files of a run share one
 * apiserver, every agent watches both kinds cluster-wide, and the run has no namespace controller
 * (deleting a namespace would delete nothing in it): Services left behind would be placed on the nodes
 * of later test files.
 */
export async function deleteServices(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const s of (await core.listNamespacedService({ namespace })).items) {
    await core.deleteNamespacedService({ name: s.metadata!.name!, namespace }).catch(ignoreNotFound);
  }
  await kc.makeApiClient(DiscoveryV1Api).deleteCollectionNamespacedEndpointSlice({ namespace });
}

/**
 * For the afterAll of every test file that calls freshNamespace: deleteServices in each namespace the
 * file made. The global teardown fails the run if any Service, EndpointSlice or Node is left over.
 */
export async function cleanUpNamespaces(): Promise<void> {
  for (const { kc, name } of created.splice(0)) await deleteServices(kc, name);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : ''}`,
      );
    }
    await sleep(100);
  }
}

/** Applies crds/*.yaml (create or replace) and waits until each is Established. */
export async function applyCRDs(kc: KubeConfig, files = readdirSync(join(repoRoot, 'crds'))): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const file of files) {
    // loadAllYaml maps wire names (x-kubernetes-validations) to the typed model the client serialises from
    for (const doc of loadAllYaml(readFileSync(join(repoRoot, 'crds', file), 'utf8')) as V1CustomResourceDefinition[]) {
      const name = doc.metadata!.name!;
      try {
        const current = await api.readCustomResourceDefinition({ name });
        doc.metadata!.resourceVersion = current.metadata!.resourceVersion;
        await api.replaceCustomResourceDefinition({ name, body: doc });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
        await api.createCustomResourceDefinition({ body: doc });
      }
      await waitFor(`CRD ${name} Established`, async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      });
    }
  }
}

/** A kubeconfig that authenticates as a service account with a token minted by TokenRequest. */
export async function serviceAccountKubeConfig(
  admin: KubeConfig,
  namespace: string,
  name: string,
): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: tr.status!.token }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  return kc;
}

export function readRepoFile(...parts: string[]): string {
  return readFileSync(join(repoRoot, ...parts), 'utf8');
}

/** A node's NodeRoutingStatus object, or undefined when it has none. */
export async function nodeRoutingStatus(
  kc: KubeConfig,
  namespace: string,
  node: string,
): Promise<{ metadata: V1ObjectMeta; status?: NodeRoutingStatus } | undefined> {
  const resource = { group: GROUP, version: VERSION, plural: NODE_ROUTING_STATUS_PLURAL, namespace, name: node };
  return (await kc
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject(resource)
    .catch((err: unknown) => {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    })) as { metadata: V1ObjectMeta; status?: NodeRoutingStatus } | undefined;
}
