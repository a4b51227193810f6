import { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { adminKubeConfig } from './kube.ts';

/**
 * What the agents of the run see cluster-wide that test files left behind (every file deletes what it
 * created in its afterAll; see cleanUpNamespaces): the apiserver's own `kubernetes` Service excepted.
 */
async function leftovers(): Promise<string[]> {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const own = (o: { metadata?: { namespace?: string; name?: string } }) =>
    o.metadata?.namespace === 'default' && o.metadata.name === 'kubernetes';
  const id = (kind: string) => (o: { metadata?: { namespace?: string; name?: string } }) =>
    `${kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
  return [
    ...(await core.listServiceForAllNamespaces()).items.filter((s) => !own(s)).map(id('Service')),
    ...(await kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces()).items
      .filter((s) => !own(s))
      .map(id('EndpointSlice')),
    ...(await core.listNode()).items.map(id('Node')),
  ];
}

export default async function globalTeardown(): Promise<void> {
  try {
    const left = globalThis.__purelbCluster ? await leftovers() : [];
    if (left.length) {
      throw new Error(
        `integration test files left objects behind, which the agents of later files would see (delete them in afterAll): ${left.join(', ')}`,
      );
    }
  } finally {
    await globalThis.__purelbCluster?.stop();
    globalThis.__purelbCluster = undefined;
  }
}
