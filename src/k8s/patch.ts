// Patch helpers. We always send merge patches for annotations and status (never a whole object), so we
// never overwrite fields other writers own.
import type { V1Service } from '@kubernetes/client-node';
import type { KubeClient } from './rest.ts';

export const servicePath = (namespace: string, name: string) => `/api/v1/namespaces/${namespace}/services/${name}`;

/** Sets (string) or removes (null) annotations of a Service by merge patch. */
export function patchServiceAnnotations(
  kc: KubeClient,
  namespace: string,
  name: string,
  annotations: Record<string, string | null>,
  /** Precondition: the patch fails with 409 Conflict when the Service changed since this version. */
  resourceVersion?: string,
): Promise<V1Service> {
  const metadata = { annotations, ...(resourceVersion ? { resourceVersion } : {}) };
  return kc.patch(servicePath(namespace, name), { metadata }, 'merge');
}
