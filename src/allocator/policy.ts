// Allocation policy (pure): given what a Service asks for and what it holds, decide per family what to
// keep, what to add and what to release. An address a Service holds is kept while it still satisfies
// the request (same pinned address, or allocated from the requested group), so restarts and pool edits
// move nothing; only a changed request replaces an address, and only when the new one can be had.
import { DEFAULT_GROUP_NAME } from '../api/annotations.ts';
import { formatIP, parseIP, type Family, type IP } from '../api/ip.ts';
import { outOfScope } from '../api/servicegroup-scope.ts';
import type { AllocationRequest } from './request.ts';
import type { AllocationState, Held, Holder } from './state.ts';

export type FailureReason =
  | 'invalid-request'
  | 'unknown-group'
  | 'out-of-scope'
  | 'no-pool-for-family'
  | 'exhausted'
  | 'outside-pools'
  | 'in-use'
  | 'port-conflict'
  | 'sharing-conflict'
  | 'family-mismatch';

export interface PlanOk {
  ok: true;
  keep: Held[];
  add: Held[];
  release: Held[];
  /** Kept addresses whose group's spec.serviceAllocation no longer admits the Service. */
  outOfScope: Held[];
  warnings: string[];
}

export interface PlanFailed {
  ok: false;
  reason: FailureReason;
  message: string;
  warnings: string[];
}

export type Plan = PlanOk | PlanFailed;

class Refused extends Error {
  readonly reason: FailureReason;
  constructor(reason: FailureReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export const holderOf = (req: AllocationRequest): Holder => ({
  service: req.service,
  ports: req.ports,
  ...(req.sharingKey ? { sharingKey: req.sharingKey } : {}),
});

const familyName = (f: Family) => `IPv${f}`;

interface Wanted {
  families: Family[];
  /** PreferDualStack: a family that cannot be had is dropped (with a warning) as long as one is had. */
  optional: boolean;
}

function wantedFamilies(req: AllocationRequest, state: AllocationState): Wanted {
  if (req.pinned.length) {
    const by = req.pinnedBy!;
    for (const ip of req.pinned) {
      if (req.families.length && !req.families.includes(ip.family)) {
        throw new Refused(
          'family-mismatch',
          `${by} gives ${formatIP(ip)} (${familyName(ip.family)}) but spec.ipFamilies is [${req.families.map(familyName).join(', ')}]; set ipFamilyPolicy PreferDualStack or RequireDualStack, or remove the address`,
        );
      }
    }
    const missing = req.families.filter((f) => !req.pinned.some((ip) => ip.family === f));
    if (req.policy === 'RequireDualStack' && missing.length) {
      throw new Refused(
        'family-mismatch',
        `ipFamilyPolicy RequireDualStack needs one address per family but ${by} has no ${missing.map(familyName).join(' or ')} address; add one`,
      );
    }
    const order = (ip: IP) => (req.families.indexOf(ip.family) + 3) % 3;
    return { families: [...req.pinned].sort((a, b) => order(a) - order(b)).map((ip) => ip.family), optional: false };
  }
  const available = state.pools.families(req.group);
  const declared = req.families.length
    ? req.families
    : req.policy === 'RequireDualStack'
      ? ([4, 6] as Family[])
      : [available[0] ?? 4];
  if (req.policy === 'SingleStack') return { families: declared.slice(0, 1), optional: false };
  return { families: declared, optional: req.policy === 'PreferDualStack' };
}

function groupGone(req: AllocationRequest): Refused {
  return new Refused(
    'unknown-group',
    req.groupAnnotated
      ? `purelb.io/service-group names ServiceGroup "${req.group}", which does not exist (or never was valid); create it or fix the annotation`
      : `no ServiceGroup named "${req.group}" exists (Services without purelb.io/service-group use it); create it or set purelb.io/service-group`,
  );
}

/** The address a Service's sharing key is bound to in a family, as held by another Service. */
function sharedWithOthers(
  req: AllocationRequest,
  state: AllocationState,
  family: Family,
): { ip: IP; group: string } | undefined {
  if (!req.sharingKey) return undefined;
  const text = state.sharedAddress(req.sharingKey, family, req.service);
  if (!text) return undefined;
  const ip = parseIP(text)!;
  const other = state.holdersOf(ip).find((h) => h.service !== req.service)!;
  return { ip, group: state.held(other.service).find((h) => h.text === text)!.group };
}

function checkShare(state: AllocationState, ip: IP, holder: Holder): void {
  const refusal = state.refusal(ip, holder);
  if (refusal) throw new Refused(refusal.reason, refusal.message);
}

/** A new address in `family` for a request that pins one. */
function pinnedAddress(req: AllocationRequest, state: AllocationState, family: Family, warnings: string[]): Held {
  const ip = req.pinned.find((p) => p.family === family)!;
  const text = formatIP(ip);
  const range = state.pools.locate(ip);
  if (!range) {
    throw new Refused(
      'outside-pools',
      `${req.pinnedBy} asks for ${text}, which is in no ServiceGroup pool; pick an address inside a pool or add a pool that contains it`,
    );
  }
  checkScope(req, state, range.group, `${req.pinnedBy} pins ${text}`);
  checkShare(state, ip, holderOf(req));
  const bound = sharedWithOthers(req, state, family);
  if (bound && formatIP(bound.ip) !== text) {
    throw new Refused(
      'sharing-conflict',
      `sharing key "${req.sharingKey}" is bound to ${formatIP(bound.ip)}, not ${text}; pin ${formatIP(bound.ip)} or use another key`,
    );
  }
  if (req.groupAnnotated && range.group !== req.group) {
    warnings.push(
      `purelb.io/service-group "${req.group}" is ignored: ${req.pinnedBy} pins ${text}, which is in ServiceGroup ${range.group}`,
    );
  }
  return { ip, text, group: range.group };
}

/** A new address in `family` from the requested group, or undefined when the family is exhausted. */
function groupAddress(req: AllocationRequest, state: AllocationState, family: Family): Held | undefined {
  if (!state.pools.has(req.group)) throw groupGone(req);
  checkScope(
    req,
    state,
    req.group,
    req.groupAnnotated ? 'purelb.io/service-group' : 'the default for Services that name no group',
  );
  const bound = sharedWithOthers(req, state, family);
  if (bound) {
    const text = formatIP(bound.ip);
    if (bound.group !== req.group) {
      throw new Refused(
        'sharing-conflict',
        `sharing key "${req.sharingKey}" is bound to ${text} from ServiceGroup ${bound.group}, not ${req.group}; Services sharing an address must use one group`,
      );
    }
    checkShare(state, bound.ip, holderOf(req));
    return { ip: bound.ip, text, group: req.group };
  }
  const ip = state.pools.lowestFree(req.group, family);
  return ip && { ip, text: formatIP(ip), group: req.group };
}

/** Warnings about an address a Service keeps: outside every pool, or clashing with another holder. */
function keptWarnings(req: AllocationRequest, state: AllocationState, cur: Held): string[] {
  const warnings: string[] = [];
  if (!state.pools.locate(cur.ip)) {
    warnings.push(
      `${cur.text} is outside every pool (a ServiceGroup was edited or deleted); it stays assigned until the Service is deleted or its request changes`,
    );
  }
  // found in Service status (e.g. written by an older allocator) or ports edited after sharing
  const clash = state.refusal(cur.ip, holderOf(req));
  if (clash)
    warnings.push(
      `${clash.message}; neither loses it (addresses are never taken away): change the request of one of them`,
    );
  return warnings;
}

/** The group has no address of `family` for the Service: refuses a required family, else returns the warning. */
function optionalFamilyMissing(
  req: AllocationRequest,
  state: AllocationState,
  family: Family,
  hasFamily: boolean,
  wanted: Wanted,
): string {
  if (!state.pools.has(req.group)) throw groupGone(req);
  const why = hasFamily
    ? `ServiceGroup ${req.group} has no free ${familyName(family)} address`
    : `ServiceGroup ${req.group} has no ${familyName(family)} pool`;
  if (!wanted.optional) {
    throw new Refused(
      hasFamily ? 'exhausted' : 'no-pool-for-family',
      `${why}; ${hasFamily ? 'release an address or add a pool' : `add v${family}pools to it or change spec.ipFamilyPolicy`}`,
    );
  }
  const assigned = wanted.families
    .filter((f) => f !== family)
    .map(familyName)
    .join(', ');
  return `PreferDualStack: ${why}; assigned ${assigned} only`;
}

/** PreferDualStack and no family could be had: one refusal that says so per family, with the fix. */
function nothingToAssign(req: AllocationRequest, dropped: ReadonlyMap<Family, boolean>, warnings: string[]): Refused {
  if (dropped.size === 0) return new Refused('no-pool-for-family', `nothing to assign: ${warnings.join('; ')}`);
  const exhausted = [...dropped.values()].some(Boolean);
  const why = [...dropped]
    .map(([f, hasPool]) => (hasPool ? `no free ${familyName(f)} address` : `no ${familyName(f)} pool`))
    .join(' and ');
  return new Refused(
    exhausted ? 'exhausted' : 'no-pool-for-family',
    `ServiceGroup ${req.group} has ${why} (ipFamilyPolicy PreferDualStack needs one of them); ${exhausted ? 'release an address or add a pool' : 'add a pool of a family the Service accepts'}`,
  );
}

/** Why `group`'s scope excludes the Service, or undefined (also for an unknown group). */
function scopeExcludes(req: AllocationRequest, state: AllocationState, group: string): string | undefined {
  const config = state.pools.configs.get(group);
  return config && outOfScope(config.tenancy, req);
}

/**
 * The group of a Service that names none: its namespace's default group (spec.serviceAllocation.
 * namespaceDefault) when that group admits the Service, else "default". Validation lets at most one
 * group claim a namespace, and never a reserved (autoAssign false) one.
 */
function defaultGroup(req: AllocationRequest, state: AllocationState): string {
  for (const c of state.pools.configs.values()) {
    const t = c.tenancy;
    if (t.namespaceDefault && t.scope!.namespaces.includes(req.namespace) && !outOfScope(t, req)) return c.name;
  }
  return DEFAULT_GROUP_NAME;
}

/** Refuses a new address from `group` for a Service outside the group's scope. */
function checkScope(req: AllocationRequest, state: AllocationState, group: string, via: string): void {
  const why = scopeExcludes(req, state, group);
  if (!why) return;
  const fix = req.pinned.length
    ? `pin an address of a group that admits it`
    : req.groupAnnotated
      ? 'name a group that admits it in purelb.io/service-group'
      : 'set purelb.io/service-group to a group that admits it';
  throw new Refused(
    'out-of-scope',
    `Service ${req.service} may not use ServiceGroup ${group} (${via}): ${why} of ServiceGroup ${group}; ${fix}, or widen spec.serviceAllocation of ServiceGroup ${group}`,
  );
}

/**
 * A Service that names no group keeps an address of "default" or of any scoped group that is not
 * reserved: adding, moving or removing a namespace default, or narrowing a scope, moves no address.
 * An unscoped PureLB v1 group behaves as before (dropping the annotation moves the Service to its default).
 */
function keptAsDefault(req: AllocationRequest, state: AllocationState, cur: Held): boolean {
  if (req.groupAnnotated || req.pinned.length) return false;
  const config = state.pools.configs.get(cur.group);
  return !!config && config.tenancy.autoAssign && (cur.group === DEFAULT_GROUP_NAME || !!config.tenancy.scope);
}

export function planAllocation(request: AllocationRequest, state: AllocationState): Plan {
  const warnings: string[] = [];
  const req =
    request.groupAnnotated || request.pinned.length ? request : { ...request, group: defaultGroup(request, state) };
  try {
    if (req.problems.length) throw new Refused('invalid-request', req.problems.join('; '));
    const wanted = wantedFamilies(req, state);
    const current = state.held(req.service);
    const keep: Held[] = [];
    const add: Held[] = [];
    /** Optional families the group cannot give: true when it has a pool of that family (exhausted). */
    const dropped = new Map<Family, boolean>();
    const outside: Held[] = [];
    for (const family of wanted.families) {
      const cur = current.find((h) => h.ip.family === family);
      const satisfied =
        cur &&
        (req.pinned.length
          ? req.pinned.some((p) => formatIP(p) === cur.text)
          : cur.group === req.group || keptAsDefault(req, state, cur));
      if (satisfied) {
        keep.push(cur);
        warnings.push(...keptWarnings(req, state, cur));
        const why = scopeExcludes(req, state, cur.group);
        if (why) {
          outside.push(cur);
          warnings.push(
            `keeps ${cur.text} of ServiceGroup ${cur.group} although ${why} (the scope was narrowed after the address was assigned); addresses are never taken away: delete the Service or change its request to release it, or widen spec.serviceAllocation`,
          );
        }
        continue;
      }
      if (req.pinned.length) {
        add.push(pinnedAddress(req, state, family, warnings));
        continue;
      }
      const hasFamily = state.pools.families(req.group).includes(family);
      const next = hasFamily ? groupAddress(req, state, family) : undefined;
      if (next) {
        add.push(next);
        continue;
      }
      warnings.push(optionalFamilyMissing(req, state, family, hasFamily, wanted));
      dropped.set(family, hasFamily);
    }
    if (keep.length + add.length === 0) throw nothingToAssign(req, dropped, warnings);
    const release = current.filter((h) => !keep.includes(h));
    return { ok: true, keep, add, release, outOfScope: outside, warnings };
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return { ok: false, reason: err.reason, message: err.message, warnings };
  }
}

/** Commits an ok plan to the state; returns the addresses nobody holds any more. */
export function applyPlan(req: AllocationRequest, plan: PlanOk, state: AllocationState): Held[] {
  const freed = plan.release.filter((h) => state.releaseAddress(req.service, h.text));
  const holder = holderOf(req);
  state.updateHolder(holder);
  for (const h of plan.add) state.hold(holder, h);
  return freed;
}
