// Node label selectors of a ServiceGroup (pure): which nodes may announce its addresses
// (`nodeSelectors`) and which are preferred for its local addresses (`preferredNodeSelectors`).
// The shape is Kubernetes' LabelSelector; a list of them matches a node when any one matches (as
// MetalLB's advertisement nodeSelectors). The agents see each other's labels only through the heartbeat
// Lease, which publishes just the label keys the selectors read (selectorKeys).

export interface LabelRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

/** matchLabels folded into In requirements; every requirement must hold. */
export type LabelSelector = LabelRequirement[];

export type Labels = Readonly<Record<string, string>>;

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.operator) {
      case 'In':
        return has && r.values.includes(labels[r.key]!);
      case 'NotIn':
        return !has || !r.values.includes(labels[r.key]!);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
    }
  });
}

/** A list of selectors: undefined or empty selects every node, else any selector that matches. */
export const anySelectorMatches = (selectors: readonly LabelSelector[] | undefined, labels: Labels): boolean =>
  !selectors?.length || selectors.some((s) => selectorMatches(s, labels));

/** The label keys the selectors read, sorted: all a peer needs to know of a node's labels. */
export function selectorKeys(selectorLists: Iterable<readonly LabelSelector[] | undefined>): string[] {
  const keys = new Set<string>();
  for (const list of selectorLists) for (const s of list ?? []) for (const r of s) keys.add(r.key);
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
      s
        .map((r) => (r.values.length ? `${r.key} ${r.operator} (${r.values.join(',')})` : `${r.key} ${r.operator}`))
        .join(', '),
    )
    .map((t) => `{${t}}`)
    .join(' or ');
