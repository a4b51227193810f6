// The agent derives each watch-cache Service object once (src/agent/service-inputs.ts).
import { describe, expect, test } from '@jest/globals';
import type { V1Service } from '@kubernetes/client-node';
import { cachedServiceInput, readFieldsSignature } from '../../src/agent/service-inputs.ts';

const svc = (ip: string, labels: Record<string, string> = {}): V1Service => ({
  metadata: { name: 'web', namespace: 'default', labels, annotations: { 'purelb.io/allocated-by': 'PureLB' } },
  status: { loadBalancer: { ingress: [{ ip }] } },
});

describe('service inputs per cached object', () => {
  test('one derivation per object: the same object gives the same input, a new version its own', () => {
    const v1 = svc('10.0.0.1');
    const first = cachedServiceInput(v1)!;
    expect(cachedServiceInput(v1)).toBe(first);
    const v2 = svc('10.0.0.2');
    expect(cachedServiceInput(v2)!.addresses).not.toEqual(first.addresses);
    expect(cachedServiceInput({ ...v1, metadata: { ...v1.metadata, annotations: {} } })).toBeUndefined();
  });

  test('the signature follows what a reconcile reads: addresses and labels, not the version', () => {
    const gold = svc('10.0.0.1', { tier: 'gold' });
    const a = cachedServiceInput(gold)!;
    const b = cachedServiceInput({ ...gold, metadata: { ...gold.metadata, resourceVersion: '9' } })!;
    expect(readFieldsSignature(b)).toBe(readFieldsSignature(a));
    expect(readFieldsSignature(cachedServiceInput(svc('10.0.0.1', { tier: 'bronze' }))!)).not.toBe(
      readFieldsSignature(a),
    );
    expect(readFieldsSignature(cachedServiceInput(svc('10.0.0.3', { tier: 'gold' }))!)).not.toBe(
      readFieldsSignature(a),
    );
  });
});
