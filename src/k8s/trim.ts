// Trims for watch caches (pure, in place): bookkeeping of the API and of kubectl that no component of
// ours reads, yet is often most of an object.
import type { KubernetesObject } from '@kubernetes/client-node';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** managedFields and kubectl's last-applied-configuration annotation (a copy of the whole object). */
export function dropBookkeeping(o: KubernetesObject): void {
  const m = o.metadata;
  if (!m) return;
  delete m.managedFields;
  if (m.annotations) delete m.annotations[LAST_APPLIED];
}
