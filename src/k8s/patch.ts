// Patch helpers. client-node defaults patch Content-Type to json-patch; we always send merge patches
// (annotations, status) so we never overwrite fields other writers own.
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1Service } from '@kubernetes/client-node';

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Sets (string) or removes (null) annotations of a Service by merge patch. */
export function patchServiceAnnotations(
  core: CoreV1Api,
  namespace: string,
  name: string,
  annotations: Record<string, string | null>,
  /** Precondition: the patch fails with 409 Conflict when the Service changed since this version. */
  resourceVersion?: string,
): Promise<V1Service> {
  const metadata = { annotations, ...(resourceVersion ? { resourceVersion } : {}) };
  return core.patchNamespacedService({ name, namespace, body: { metadata } }, mergePatch);
}

/** Replaces status.loadBalancer.ingress (a merge patch replaces lists whole). */
export function patchServiceIngress(
  core: CoreV1Api,
  namespace: string,
  name: string,
  ips: string[],
): Promise<V1Service> {
  return core.patchNamespacedServiceStatus(
    { name, namespace, body: { status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } } },
    mergePatch,
  );
}

/** Server-side apply: the body is the whole object as this field manager wants it; one request creates it
 * or updates it, and fields this manager set before but omits now are removed. */
export const serverSideApply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
