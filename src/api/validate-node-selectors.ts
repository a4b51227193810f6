// A ServiceGroup's node selectors (`spec.nodeSelectors`, `spec.preferredNodeSelectors`): lists of
// Kubernetes LabelSelectors read by the one selector parser (src/model/label-selector.ts). What is
// node-specific: an empty selector is refused (it would select every node) and the lists are bounded.
import { parseLabelSelectors, selectorEmpty, type LabelSelector } from '../model/label-selector.ts';

export const NODE_SELECTOR_FIELDS = ['nodeSelectors', 'preferredNodeSelectors'] as const;
export const MAX_SELECTORS = 16;

/** Parses spec.<field>: undefined when absent or empty (the same as absent) or when it has a problem. */
export function parseNodeSelectors(
  value: unknown,
  field: string,
  report: (field: string, msg: string) => void,
): LabelSelector[] | undefined {
  if (value === undefined) return undefined;
  let ok = true;
  const fail = (f: string, m: string) => {
    ok = false;
    report(f, m);
  };
  const selectors = parseLabelSelectors(value, field, fail);
  if (!selectors) return undefined;
  if (selectors.length > MAX_SELECTORS) fail(field, `has ${selectors.length} selectors; at most ${MAX_SELECTORS}`);
  selectors.forEach((s, i) => {
    if (selectorEmpty(s))
      fail(
        `${field}[${i}]`,
        'is empty and would select every node; remove it (no nodeSelectors means every node) or add matchLabels',
      );
  });
  return ok && selectors.length ? selectors : undefined;
}
