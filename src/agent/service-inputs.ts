// The ServiceInput of each watch-cache Service, derived once per object. The watch cache stores a new
// object for every event and never changes one it holds (AgentCluster.services), so an object is one
// version of its Service: a reconcile over 10,000 Services derives only those that changed since the
// last one. A CPU profile put the derivation and the input signatures at 70-130 ms of every reconcile,
// held on the event loop the LAN probes and takeovers share.
import type { V1Service } from '@kubernetes/client-node';
import { formatIP } from '../api/ip.ts';
import { serviceInput, type ServiceInput } from '../model/services.ts';

const inputs = new WeakMap<V1Service, ServiceInput | null>();
const signatures = new WeakMap<ServiceInput, string>();

/** serviceInput (src/model/services.ts) of a cached Service object; the same object for the same version. */
export function cachedServiceInput(svc: V1Service): ServiceInput | undefined {
  let input = inputs.get(svc);
  if (input === undefined) {
    input = serviceInput(svc) ?? null;
    inputs.set(svc, input);
  }
  return input ?? undefined;
}

/** What a reconcile reads of a Service, apart from its announcing values (the caller weighs its own
 * writes among them) and its version. */
export function readFieldsSignature(input: ServiceInput): string {
  let sig = signatures.get(input);
  if (sig === undefined) {
    sig = JSON.stringify([input.addresses.map(formatIP), input.etpLocal, input.allocatedFrom, input.labels]);
    signatures.set(input, sig);
  }
  return sig;
}
