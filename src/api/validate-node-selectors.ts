// Parsing of a ServiceGroup's node selectors (`spec.nodeSelectors`, `spec.preferredNodeSelectors`):
// lists of Kubernetes LabelSelectors {matchLabels, matchExpressions}. Key and value syntax follow
// Kubernetes' label rules, so a selector that could never match a real label is refused, not ignored.
import { SELECTOR_OPERATORS, type LabelRequirement, type LabelSelector } from '../model/node-selector.ts';

export const NODE_SELECTOR_FIELDS = ['nodeSelectors', 'preferredNodeSelectors'] as const;
export const MAX_SELECTORS = 16;
const MAX_REQUIREMENTS = 16;
const MAX_VALUES = 64;

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why `key` is not a label key (prefix/name), or undefined when it is one. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  const name = parts.pop()!;
  const prefix = parts.join('/');
  if (parts.length > 1) return 'has more than one "/"';
  if (parts.length === 1 && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'has a prefix that is not a DNS subdomain (e.g. example.com)';
  if (!NAME.test(name))
    return 'needs a name of 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  return undefined;
}

const valueOK = (v: string) => v === '' || NAME.test(v);

function parseSelector(
  sel: unknown,
  at: string,
  report: (field: string, msg: string) => void,
): LabelSelector | undefined {
  if (!isRecord(sel)) {
    report(at, 'must be a label selector {matchLabels, matchExpressions}');
    return undefined;
  }
  for (const k of Object.keys(sel))
    if (k !== 'matchLabels' && k !== 'matchExpressions')
      report(`${at}.${k}`, 'unknown field; a label selector has matchLabels and matchExpressions');
  const reqs: LabelRequirement[] = [];
  let ok = true;
  const bad = (field: string, msg: string) => {
    ok = false;
    report(field, msg);
  };
  const checkKey = (key: string, field: string) => {
    const p = labelKeyProblem(key);
    if (p) bad(field, `label key ${JSON.stringify(key)} ${p}`);
  };
  if (sel.matchLabels !== undefined) {
    if (!isRecord(sel.matchLabels)) bad(`${at}.matchLabels`, 'must be a map of label key to value');
    else
      for (const [key, value] of Object.entries(sel.matchLabels)) {
        checkKey(key, `${at}.matchLabels`);
        if (typeof value !== 'string' || !valueOK(value))
          bad(
            `${at}.matchLabels.${key}`,
            `label value ${JSON.stringify(value)} is not a valid label value (up to 63 letters, digits, "-", "_", ".")`,
          );
        else reqs.push({ key, operator: 'In', values: [value] });
      }
  }
  if (sel.matchExpressions !== undefined) {
    if (!Array.isArray(sel.matchExpressions))
      bad(`${at}.matchExpressions`, 'must be a list of {key, operator, values}');
    else
      sel.matchExpressions.forEach((e: unknown, i) => {
        const f = `${at}.matchExpressions[${i}]`;
        if (!isRecord(e) || typeof e.key !== 'string')
          return bad(f, 'must be {key, operator, values} with a string key');
        checkKey(e.key, `${f}.key`);
        const op = e.operator;
        if (typeof op !== 'string' || !(SELECTOR_OPERATORS as readonly string[]).includes(op))
          return bad(`${f}.operator`, `must be one of ${SELECTOR_OPERATORS.join(', ')}`);
        const values = e.values ?? [];
        if (!Array.isArray(values) || values.some((v) => typeof v !== 'string' || !valueOK(v)))
          return bad(`${f}.values`, 'must be a list of label values');
        const needsValues = op === 'In' || op === 'NotIn';
        if (needsValues !== values.length > 0)
          return bad(
            `${f}.values`,
            needsValues ? `must not be empty with operator ${op}` : `must be empty with operator ${op}`,
          );
        reqs.push({ key: e.key, operator: op as LabelRequirement['operator'], values: values as string[] });
      });
  }
  if (ok && reqs.length === 0)
    report(
      at,
      'is empty and would select every node; remove it (no nodeSelectors means every node) or add matchLabels',
    );
  else if (reqs.length > MAX_REQUIREMENTS) report(at, `has ${reqs.length} requirements; at most ${MAX_REQUIREMENTS}`);
  else if (reqs.some((r) => r.values.length > MAX_VALUES))
    report(at, `a requirement has more than ${MAX_VALUES} values`);
  else if (ok) return reqs;
  return undefined;
}

/** Parses spec.<field>: undefined when absent, [] never (an empty list is the same as absent). */
export function parseNodeSelectors(
  value: unknown,
  field: string,
  report: (field: string, msg: string) => void,
): LabelSelector[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    report(field, 'must be a list of label selectors, e.g. [{matchLabels: {topology.kubernetes.io/zone: a}}]');
    return undefined;
  }
  if (value.length > MAX_SELECTORS) report(field, `has ${value.length} selectors; at most ${MAX_SELECTORS}`);
  const out = value.map((s, i) => parseSelector(s, `${field}[${i}]`, report));
  return out.every((s): s is LabelSelector => !!s) && out.length ? out : undefined;
}
