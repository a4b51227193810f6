// Which RouterConfig applies to a node: every config whose nodeSelector labels all match the node's
// labels is a candidate; the one with the most labels (most specific) wins, ties go to the name that
// sorts first. Pure, so it is tested exhaustively without a cluster.
import type { KubernetesObject } from '@kubernetes/client-node';

function selectorOf(obj: KubernetesObject & { spec?: unknown }): Record<string, unknown> {
  const sel = (obj.spec as { nodeSelector?: unknown } | undefined)?.nodeSelector;
  return sel && typeof sel === 'object' && !Array.isArray(sel) ? (sel as Record<string, unknown>) : {};
}

export function selectRouterConfig<T extends KubernetesObject & { spec?: unknown }>(
  items: readonly T[],
  labels: Record<string, string>,
): T | undefined {
  const matching = items.filter((o) => Object.entries(selectorOf(o)).every(([k, v]) => labels[k] === v));
  matching.sort(
    (a, b) =>
      Object.keys(selectorOf(b)).length - Object.keys(selectorOf(a)).length ||
      (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
  return matching[0];
}
