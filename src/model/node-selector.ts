// Node label selectors of a ServiceGroup (pure): which nodes may announce its addresses
// (`nodeSelectors`) and which are preferred for its local addresses (`preferredNodeSelectors`).
// Selectors are Kubernetes LabelSelectors (./label-selector.ts); a list matches a node when any one
// matches (as MetalLB's advertisement nodeSelectors). The agents see each other's labels only through
// the heartbeat Lease, which publishes just the label keys the selectors read (selectorKeys).
import type { LabelSelector } from './label-selector.ts';

export { anySelectorMatches, type LabelSelector } from './label-selector.ts';

export type Labels = Readonly<Record<string, string>>;

/** The label keys the selectors read, sorted: all a peer needs to know of a node's labels. */
export function selectorKeys(selectorLists: Iterable<readonly LabelSelector[] | undefined>): string[] {
  const keys = new Set<string>();
  for (const list of selectorLists)
    for (const s of list ?? []) {
      for (const k of Object.keys(s.matchLabels)) keys.add(k);
      for (const r of s.matchExpressions) keys.add(r.key);
    }
  return [...keys].sort();
}

/** The node's labels restricted to `keys` (what the heartbeat Lease publishes). */
export function pickLabels(labels: Labels | undefined, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (labels && Object.hasOwn(labels, k)) out[k] = labels[k]!;
  return out;
}

/** "zone In (a,b), rack Exists" for messages. */
export const selectorText = (selectors: readonly LabelSelector[]): string =>
  selectors
    .map((s) =>
      [
        ...Object.entries(s.matchLabels).map(([k, v]) => `${k}=${v}`),
        ...s.matchExpressions.map((r) =>
          r.values.length ? `${r.key} ${r.operator} (${r.values.join(',')})` : `${r.key} ${r.operator}`,
        ),
      ].join(', '),
    )
    .map((t) => `{${t}}`)
    .join(' or ');
