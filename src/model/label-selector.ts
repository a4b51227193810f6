// Kubernetes label selectors (matchLabels and matchExpressions with In, NotIn, Exists, DoesNotExist):
// parsing with field-named problems and matching (pure). Keys and values are checked against the
// Kubernetes label syntax, so a selector never carries daemon syntax. The one reading of selectors for
// ServiceGroup tenancy and node placement and for RouterConfig advertisements.

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export const SELECTOR_OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: SelectorRequirement[];
}

/** Label keys and values (Kubernetes syntax: optional DNS prefix, 63-character name). */
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

const MAX_TERMS = 32;

/** The selector, or undefined after reporting each problem through fail(field, message). */
export function parseLabelSelector(
  v: unknown,
  field: string,
  fail: (field: string, message: string) => void,
): LabelSelector | undefined {
  const state = { failed: false };
  const bad = (f: string, m: string) => {
    state.failed = true;
    fail(f, m);
  };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    bad(field, 'must be a label selector {matchLabels, matchExpressions}');
    return undefined;
  }
  const o = v as { matchLabels?: unknown; matchExpressions?: unknown };
  const matchLabels: Record<string, string> = {};
  if (o.matchLabels !== undefined) {
    if (o.matchLabels === null || typeof o.matchLabels !== 'object' || Array.isArray(o.matchLabels))
      bad(`${field}.matchLabels`, 'must be a map of label key to value');
    else
      for (const [k, val] of Object.entries(o.matchLabels)) {
        const f = `${field}.matchLabels[${JSON.stringify(k)}]`;
        if (!LABEL_KEY.test(k)) bad(f, 'is not a valid label key');
        else if (typeof val !== 'string' || !LABEL_VALUE.test(val))
          bad(f, 'must be a label value (63 letters, digits, "-", "_", "." at most)');
        else matchLabels[k] = val;
      }
  }
  const matchExpressions: SelectorRequirement[] = [];
  const exprs = o.matchExpressions === undefined ? [] : o.matchExpressions;
  if (!Array.isArray(exprs) || exprs.length > MAX_TERMS)
    bad(`${field}.matchExpressions`, `must be a list of at most ${MAX_TERMS} {key, operator, values}`);
  else
    for (const [i, e] of exprs.entries()) {
      const f = `${field}.matchExpressions[${i}]`;
      const r = (e ?? {}) as { key?: unknown; operator?: unknown; values?: unknown };
      const values = r.values === undefined ? [] : r.values;
      if (typeof r.key !== 'string' || !LABEL_KEY.test(r.key)) bad(`${f}.key`, 'must be a label key');
      else if (!SELECTOR_OPERATORS.includes(r.operator as SelectorOperator))
        bad(`${f}.operator`, `must be one of ${SELECTOR_OPERATORS.join(', ')}, got ${JSON.stringify(r.operator)}`);
      else if (!Array.isArray(values) || values.some((x) => typeof x !== 'string' || !LABEL_VALUE.test(x)))
        bad(`${f}.values`, 'must be a list of label values');
      else if ((r.operator === 'In' || r.operator === 'NotIn') !== values.length > 0)
        bad(
          `${f}.values`,
          `operator ${r.operator as string} needs ${values.length ? 'no values' : 'at least one value'}`,
        );
      else matchExpressions.push({ key: r.key, operator: r.operator as SelectorOperator, values: values as string[] });
    }
  return state.failed ? undefined : { matchLabels, matchExpressions };
}

/** True when labels satisfy every term of the selector (an empty selector matches everything). */
export function selectorMatches(s: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(s.matchLabels)) if (labels[k] !== v) return false;
  return s.matchExpressions.every((r) => {
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

/** A list of selectors (undefined: none). Each is parsed as above; undefined when any has a problem. */
export function parseLabelSelectors(
  v: unknown,
  field: string,
  fail: (field: string, message: string) => void,
): LabelSelector[] | undefined {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    fail(field, 'must be a list of label selectors, e.g. [{matchLabels: {team: a}}]');
    return undefined;
  }
  const out = v.map((s, i) => parseLabelSelector(s, `${field}[${i}]`, fail));
  return out.every((s): s is LabelSelector => !!s) ? out : undefined;
}

/** True when the selector has no terms (it would match everything). */
export const selectorEmpty = (s: LabelSelector) =>
  Object.keys(s.matchLabels).length === 0 && s.matchExpressions.length === 0;

/** A list of selectors: undefined or empty matches everything, else any selector that matches. */
export const anySelectorMatches = (
  selectors: readonly LabelSelector[] | undefined,
  labels: Readonly<Record<string, string>>,
): boolean => !selectors?.length || selectors.some((s) => selectorMatches(s, labels));
