// Takeover claims this node has stored (the successor's announcing writes, src/agent/owner-probe.ts)
// that the Service watch has not shown yet. The reconcile reads them over the cached Service, so a
// takeover waits for one API write, not also for the watch to deliver its echo.
import type { ServiceInput } from '../model/services.ts';

interface Claim {
  family: 4 | 6;
  value: string;
  /** The version the claim was written on (its precondition): newer cached versions already include it, or overrule it. */
  resourceVersion: string | undefined;
  /** The value it replaced (the silent owner), for the takeover's log and failover count. */
  replaced: string | undefined;
}

export class StoredClaims {
  readonly #byService = new Map<string, Claim[]>();

  add(key: string, claim: Claim): void {
    this.#byService.set(key, [...(this.#byService.get(key) ?? []).filter((c) => c.family !== claim.family), claim]);
  }

  /** A claim of `value` on the Service is stored and not shown by the watch yet. */
  holds(key: string, family: 4 | 6, value: string): boolean {
    return this.#byService.get(key)?.some((c) => c.family === family && c.value === value) ?? false;
  }

  /** The value a stored claim replaced on the Service, if one is pending. */
  replaced(key: string, family: 4 | 6): string | undefined {
    return this.#byService.get(key)?.find((c) => c.family === family)?.replaced;
  }

  /** The Service with this node's stored claims applied while the cache still holds the version they were written on. */
  overlay(input: ServiceInput): ServiceInput {
    const claims = this.#byService.get(input.key);
    if (!claims) return input;
    const current = claims.filter((c) => c.resourceVersion === input.resourceVersion);
    if (current.length === 0) {
      this.#byService.delete(input.key);
      return input;
    }
    const announcing = { ...input.announcing };
    for (const c of current) announcing[c.family] = c.value;
    return { ...input, announcing };
  }
}
