// Helpers for integration tests: the shared cluster's admin client, a fresh namespace per test,
// applying CRDs, and service-account tokens minted with TokenRequest.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api, CoreV1Api, KubeConfig, loadAllYaml, type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';

export function adminKubeConfig(): KubeConfig {
  const path = process.env.PURELB_TEST_KUBECONFIG;
  if (!path) throw new Error('PURELB_TEST_KUBECONFIG is not set: run integration tests through jest (globalSetup starts the apiserver)');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export async function freshNamespace(kc: KubeConfig, prefix = 't'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
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
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Applies crds/*.yaml (create or replace) and waits until each is Established. */
export async function applyCRDs(kc: KubeConfig, files = ['servicegroup.yaml', 'lbnodeagent.yaml', 'routerconfig.yaml']): Promise<void> {
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
export async function serviceAccountKubeConfig(admin: KubeConfig, namespace: string, name: string): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name, namespace, body: { spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 } },
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
