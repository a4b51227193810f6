// What every importer returns: the purelb.io/v1 objects it could build, the Service patches that
// carry the Services' requests over, and one report entry per thing it could not map (the source
// object, its field, and why). finishImport runs the project's own validators over the result so an
// importer never emits an object the allocator, agent or apiserver would refuse.
import type { KubernetesObject } from '@kubernetes/client-node';
import { validateObjects } from '../api/validate.ts';
import { describeObject, formatProblem } from '../api/validation.ts';

export interface Unmapped {
  /** The source object, e.g. "IPAddressPool metallb-system/lan". */
  object: string;
  /** Path of the field in the source object, e.g. "spec.serviceAllocation.namespaces". */
  field: string;
  reason: string;
}

/** Annotations to add to one existing Service (a partial Service, applied server-side). */
export interface ServicePatch {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: { name: string; namespace: string; annotations: Record<string, string> };
}

export interface ImportResult {
  objects: KubernetesObject[];
  servicePatches: ServicePatch[];
  unmapped: Unmapped[];
  /** What the importer assumed (e.g. a node subnet derived from a Node's address); not a failure. */
  notes: string[];
}

/** Collects report entries for one source object. */
export class Report {
  readonly entries: Unmapped[] = [];
  readonly notes: string[] = [];
  note(object: string, field: string, reason: string): void {
    this.entries.push({ object, field, reason });
  }
  /** Reports every key of `obj` that is not in `known` (fields the importer does not understand). */
  unknownFields(object: string, obj: Record<string, unknown>, known: readonly string[], at: string): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.note(object, `${at}.${key}`, 'unknown field; not mapped');
    }
  }
}

export const formatUnmapped = (u: Unmapped) => `${u.object}: ${u.field}: ${u.reason}`;

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates the emitted objects as one set (`purelb validate` semantics). An object with a problem is
 * dropped and each problem is reported against it, so what is written is exactly what would be accepted.
 */
export function finishImport(
  objects: KubernetesObject[],
  servicePatches: ServicePatch[],
  report: Report,
): ImportResult {
  const problems = validateObjects(objects);
  const rejected = new Set(problems.map((p) => p.object));
  for (const p of problems)
    report.note(p.object, p.field, `not emitted: the project would reject it (${formatProblem(p)})`);
  return {
    objects: objects.filter(
      (o) => !rejected.has(describeObject(o.kind ?? '', o.metadata?.namespace, o.metadata?.name)),
    ),
    servicePatches,
    unmapped: report.entries,
    notes: report.notes,
  };
}

/** The parts of any Kubernetes object an importer reads. */
export interface SourceObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: unknown;
}

/** "Kind namespace/name", the way report entries and validator problems name objects. */
export const describeSource = (o: SourceObject) =>
  describeObject(o.kind ?? '<no kind>', o.metadata?.namespace, o.metadata?.name);
