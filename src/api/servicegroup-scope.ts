// Tenancy fields of a ServiceGroup (pure): which Services may use the group (spec.serviceAllocation,
// MetalLB IPAddressPool's names and meaning), whether it is ever chosen for a Service that names no
// group (spec.autoAssign, MetalLB), and whether it is the default of its listed namespaces
// (spec.serviceAllocation.namespaceDefault, PureLB 0.17's meaning). Parsed here for the one validator;
// matched here for the allocator, so admission, CLI and allocator share one reading.
import { DEFAULT_GROUP_NAME } from './annotations.ts';
import { parseLabelSelectors, selectorMatches, type LabelSelector } from '../model/label-selector.ts';

export interface GroupScope {
  /** Namespace names; with namespaceSelectors, a namespace is in scope if either admits it. */
  namespaces: string[];
  namespaceSelectors: LabelSelector[];
  /** A Service is in scope if any selector matches its labels (none = every Service). */
  serviceSelectors: LabelSelector[];
}

export interface GroupTenancy {
  /** false: never chosen for a Service that names no group (only by purelb.io/service-group or a pinned address). */
  autoAssign: boolean;
  /** undefined: every Service of every namespace. */
  scope?: GroupScope;
  /** The group Services in scope.namespaces get when they name no group. */
  namespaceDefault: boolean;
}

type Report = (field: string, message: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SCOPE_KEYS = ['namespaces', 'namespaceSelectors', 'serviceSelectors', 'namespaceDefault'];

/** Reads spec.autoAssign and spec.serviceAllocation; undefined when any of them is invalid (reported). */
export function parseTenancy(
  spec: Record<string, unknown>,
  name: string | undefined,
  report: Report,
): GroupTenancy | undefined {
  let ok = true;
  const bad = (f: string, m: string) => {
    ok = false;
    report(f, m);
  };
  const autoAssign = spec.autoAssign ?? true;
  if (typeof autoAssign !== 'boolean') bad('spec.autoAssign', 'must be true or false');
  if (autoAssign === false && name === DEFAULT_GROUP_NAME)
    bad(
      'spec.autoAssign',
      `false contradicts the name "${DEFAULT_GROUP_NAME}" (the group of Services that name none); rename the group or remove autoAssign`,
    );
  const raw = spec.serviceAllocation;
  if (raw === undefined) {
    return ok ? { autoAssign: autoAssign as boolean, namespaceDefault: false } : undefined;
  }
  if (!isRecord(raw)) return void bad('spec.serviceAllocation', 'must be an object');
  for (const key of Object.keys(raw))
    if (!SCOPE_KEYS.includes(key))
      bad(`spec.serviceAllocation.${key}`, `unknown field; known fields are ${SCOPE_KEYS.join(', ')}`);
  const namespaces = raw.namespaces ?? [];
  if (!Array.isArray(namespaces)) bad('spec.serviceAllocation.namespaces', 'must be a list of namespace names');
  else
    namespaces.forEach((n, i) => {
      if (typeof n !== 'string' || n.length > 63 || !NAME.test(n))
        bad(`spec.serviceAllocation.namespaces[${i}]`, `${JSON.stringify(n)} is not a namespace name (DNS label)`);
    });
  const namespaceSelectors = parseLabelSelectors(
    raw.namespaceSelectors,
    'spec.serviceAllocation.namespaceSelectors',
    bad,
  );
  const serviceSelectors = parseLabelSelectors(raw.serviceSelectors, 'spec.serviceAllocation.serviceSelectors', bad);
  const namespaceDefault = raw.namespaceDefault ?? false;
  if (typeof namespaceDefault !== 'boolean') bad('spec.serviceAllocation.namespaceDefault', 'must be true or false');
  if (namespaceDefault === true && (!Array.isArray(namespaces) || namespaces.length === 0))
    bad(
      'spec.serviceAllocation.namespaceDefault',
      'needs spec.serviceAllocation.namespaces: list the namespaces this group is the default of (selectors are not enough)',
    );
  if (namespaceDefault === true && autoAssign === false)
    bad(
      'spec.autoAssign',
      'false (reserved for Services that name the group) contradicts serviceAllocation.namespaceDefault true; remove one of them',
    );
  if (!ok) return undefined;
  return {
    autoAssign: autoAssign as boolean,
    namespaceDefault: namespaceDefault as boolean,
    scope: {
      namespaces: namespaces as string[],
      namespaceSelectors: namespaceSelectors!,
      serviceSelectors: serviceSelectors!,
    },
  } satisfies GroupTenancy;
}

export interface ScopeSubject {
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** Labels of the Service's namespace; undefined while the allocator does not know them. */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
}

/** Why the Service is outside the group's scope (the field that excludes it), or undefined when inside. */
export function outOfScope(t: GroupTenancy, s: ScopeSubject): string | undefined {
  const scope = t.scope;
  if (!scope) return undefined;
  const { namespaces, namespaceSelectors, serviceSelectors } = scope;
  if (namespaces.length || namespaceSelectors.length) {
    const byName = namespaces.includes(s.namespace);
    const bySelector = namespaceSelectors.some((sel) => selectorMatches(sel, s.namespaceLabels ?? {}));
    if (!byName && !bySelector) {
      const fields = [
        ...(namespaces.length ? [`serviceAllocation.namespaces [${namespaces.join(', ')}]`] : []),
        ...(namespaceSelectors.length ? ['serviceAllocation.namespaceSelectors'] : []),
      ].join(' or ');
      const unknown =
        s.namespaceLabels === undefined && namespaceSelectors.length ? ' (its labels are not known yet)' : '';
      return `namespace ${s.namespace}${unknown} is not in ${fields}`;
    }
  }
  if (serviceSelectors.length && !serviceSelectors.some((sel) => selectorMatches(sel, s.labels)))
    return 'its labels match no serviceAllocation.serviceSelectors entry';
  return undefined;
}

export const usesNamespaceSelectors = (t: GroupTenancy) => (t.scope?.namespaceSelectors.length ?? 0) > 0;

/** A namespace both groups claim to be the default of, if any. */
export function defaultClash(a: GroupTenancy, b: GroupTenancy): string | undefined {
  if (!a.namespaceDefault || !b.namespaceDefault) return undefined;
  return b.scope!.namespaces.find((n) => a.scope!.namespaces.includes(n));
}

export const defaultClashMessage = (namespace: string, other: string) =>
  `true, but ${other} is already the default of namespace ${namespace}; a namespace has at most one default group (remove ${namespace} from one of them or set namespaceDefault false)`;
