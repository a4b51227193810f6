// An in-memory apiserver behind the allocator's cluster port. It stores Services and ServiceGroups
// (heartbeat Leases and EndpointSlices only as watched: the test puts them in their caches), applies merge patches, bumps resourceVersions, delivers its own writes to the watch caches after
// the write returned (as a real watch does), and lets a test fail or hold the next call of a verb.
import type { KubernetesObject, V1EndpointSlice, V1Lease, V1Service } from '@kubernetes/client-node';
import type { ServiceGroup, ServiceGroupLocalSpec } from '../../../src/api/types.ts';
import { ALLOCATOR_COMPONENT, API_VERSION } from '../../../src/api/names.ts';
import { type AllocatorCluster, type ServiceStatusPatch } from '../../../src/allocator/cluster.ts';
import type { GroupStatus } from '../../../src/allocator/group-status.ts';
import { recordEvents, type EventBody, type EventRecorder } from '../../../src/k8s/events.ts';
import type { Logger } from '../../../src/log.ts';
import { MemoryCache } from './memory-cache.ts';

export type Verb = 'list' | 'status' | 'annotations' | 'groupStatus';

export interface Write {
  verb: Verb;
  /** "namespace/name" of the Service, or the ServiceGroup's name. */
  key: string;
  body: unknown;
}

type Json = Record<string, unknown>;

/** RFC 7386 merge patch: objects merge, null removes, anything else (lists too) replaces. */
function merge(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Json = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

const apiError = (verb: Verb, key: string, code: number) =>
  Object.assign(new Error(`fake apiserver: ${verb} ${key} failed (HTTP ${code})`), { code });

export class FakeAllocatorCluster implements AllocatorCluster {
  readonly services = new MemoryCache<V1Service>();
  readonly groups = new MemoryCache<ServiceGroup>();
  readonly leases = new MemoryCache<V1Lease>();
  readonly endpointSlices = new MemoryCache<V1EndpointSlice>();
  readonly namespaceCache = new MemoryCache<KubernetesObject>();
  /** How often the controller asked for the Namespace watch. */
  namespaceWatches = 0;
  readonly events: EventRecorder;
  /** Events sent, oldest first. */
  readonly sent: EventBody[] = [];
  /** Writes the store accepted, oldest first. */
  readonly writes: Write[] = [];
  /** Older apiservers drop the metadata sent to services/status. */
  statusIgnoresMetadata = false;
  readonly #stored = new Map<string, V1Service>();
  readonly #groups = new Map<string, ServiceGroup>();
  readonly #faults = new Map<Verb, number[]>();
  readonly #gates = new Map<Verb, { arrived: () => void; released: Promise<void> }>();
  #rv = 100;
  #delivering = 0;

  readonly namespace: string;

  constructor(log: Logger, namespace = 'purelb') {
    this.namespace = namespace;
    const sink = (_ns: string, e: EventBody) => Promise.resolve(void this.sent.push(e));
    this.events = recordEvents(sink, ALLOCATOR_COMPONENT, log, 'test');
  }

  // ---- what users and other controllers do ----

  /** Creates or replaces a Service; `watch: false` leaves the cache with what it had (a lagging watch). */
  applyService(svc: V1Service, { watch = true } = {}): V1Service {
    const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
    const stored = structuredClone(svc);
    stored.metadata!.resourceVersion = String(++this.#rv);
    this.#stored.set(key, stored);
    if (watch) this.services.put(structuredClone(stored));
    return stored;
  }

  deleteService(key: string): void {
    const svc = this.#stored.get(key);
    this.#stored.delete(key);
    if (svc) this.services.remove(svc);
  }

  /** Creates a ServiceGroup, or changes its spec (a new generation). */
  applyGroup(
    name: string,
    local: ServiceGroupLocalSpec,
    tenancy: Omit<NonNullable<ServiceGroup['spec']>, 'local'> = {},
  ): void {
    const before = this.#groups.get(name);
    const sg: ServiceGroup = {
      apiVersion: API_VERSION,
      kind: 'ServiceGroup',
      metadata: {
        name,
        namespace: this.namespace,
        uid: `uid-${name}`,
        generation: (before?.metadata?.generation ?? 0) + 1,
        resourceVersion: String(++this.#rv),
        creationTimestamp: before?.metadata?.creationTimestamp ?? (new Date().toISOString() as never),
      },
      spec: { local, ...tenancy },
      ...(before?.status ? { status: before.status } : {}),
    };
    this.#groups.set(name, sg);
    this.groups.put(structuredClone(sg));
  }

  service(key: string): V1Service | undefined {
    return this.#stored.get(key);
  }

  group(name: string): ServiceGroup | undefined {
    return this.#groups.get(name);
  }

  /** The next call of `verb` fails with this HTTP code. */
  failNext(verb: Verb, code: number): void {
    this.#faults.set(verb, [...(this.#faults.get(verb) ?? []), code]);
  }

  /** The next call of `verb` waits until resume() is called; `reached` resolves once it waits. */
  hold(verb: Verb): { reached: Promise<void>; resume: () => void } {
    let resume!: () => void;
    let arrived!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    const released = new Promise<void>((r) => (resume = r));
    this.#gates.set(verb, { arrived, released });
    return { reached, resume };
  }

  /** True while a write of ours is still on its way to the caches. */
  get delivering(): boolean {
    return this.#delivering > 0;
  }

  // ---- the port ----

  namespaces(): MemoryCache<KubernetesObject> {
    this.namespaceWatches++;
    return this.namespaceCache;
  }

  async stop(): Promise<void> {}

  async listServices(): Promise<V1Service[]> {
    await this.#call('list', '*');
    return [...this.#stored.values()].map((s) => structuredClone(s));
  }

  async patchServiceStatus(namespace: string, name: string, patch: ServiceStatusPatch): Promise<V1Service> {
    const body = this.statusIgnoresMetadata ? { status: patch.status } : patch;
    return this.#patchService('status', `${namespace}/${name}`, body);
  }

  async patchServiceAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<V1Service> {
    return this.#patchService('annotations', `${namespace}/${name}`, { metadata: { annotations } });
  }

  async patchGroupStatus(name: string, status: GroupStatus): Promise<void> {
    await this.#call('groupStatus', name);
    const sg = this.#groups.get(name);
    if (!sg) throw apiError('groupStatus', name, 404);
    this.writes.push({ verb: 'groupStatus', key: name, body: status });
    const next = merge(sg, { status, metadata: { resourceVersion: String(++this.#rv) } }) as ServiceGroup;
    this.#groups.set(name, next);
    this.#deliver(() => this.groups.put(structuredClone(next)));
  }

  async #patchService(verb: Verb, key: string, body: unknown): Promise<V1Service> {
    await this.#call(verb, key);
    const svc = this.#stored.get(key);
    if (!svc) throw apiError(verb, key, 404);
    this.writes.push({ verb, key, body });
    const next = merge(svc, merge(body, { metadata: { resourceVersion: String(++this.#rv) } })) as V1Service;
    this.#stored.set(key, next);
    this.#deliver(() => this.services.put(structuredClone(next)));
    return structuredClone(next);
  }

  /** The watch event of a write arrives after the write returned. */
  #deliver(put: () => void): void {
    this.#delivering++;
    setImmediate(() => {
      this.#delivering--;
      put();
    });
  }

  async #call(verb: Verb, key: string): Promise<void> {
    const gate = this.#gates.get(verb);
    if (gate) {
      this.#gates.delete(verb);
      gate.arrived();
      await gate.released;
    }
    const code = this.#faults.get(verb)?.shift();
    if (code !== undefined) throw apiError(verb, key, code);
  }
}
