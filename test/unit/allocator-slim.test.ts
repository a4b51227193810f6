import { describe, expect, test } from '@jest/globals';
import type { V1Service } from '@kubernetes/client-node';
import { slimAllocatorService } from '../../src/allocator/slim.ts';
import { isHandled, readRequest } from '../../src/allocator/request.ts';
import { ingressIPs } from '../../src/allocator/service-addresses.ts';
import { serviceInput } from '../../src/model/services.ts';

/** A dual-stack shared Service as the apiserver sends it, with everything the allocator does not read. */
const fullService = (): V1Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'u-1',
    resourceVersion: '42',
    creationTimestamp: new Date(1000),
    labels: { app: 'web' },
    annotations: {
      'purelb.io/service-group': 'lan',
      'purelb.io/allow-shared-ip': 'k1',
      'purelb.io/addresses': '192.168.1.240, fd00::240',
      'purelb.io/allocated-from': 'lan',
      'kubectl.kubernetes.io/last-applied-configuration': '{"a copy":"of the object"}',
      'example.com/other': 'x',
    },
    managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
  },
  spec: {
    type: 'LoadBalancer',
    loadBalancerClass: 'purelb.io/purelb',
    externalTrafficPolicy: 'Local',
    ipFamilies: ['IPv6', 'IPv4'],
    ipFamilyPolicy: 'RequireDualStack',
    clusterIP: '10.0.0.9',
    clusterIPs: ['10.0.0.9', 'fd10::9'],
    ports: [
      { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 },
    ],
    selector: { app: 'web' },
    sessionAffinity: 'None',
  },
  status: { loadBalancer: { ingress: [{ ip: 'fd00::240', ipMode: 'VIP' }, { ip: '192.168.1.240' }] } },
});

describe('what the allocator keeps of watched Services', () => {
  test('a slim Service reads the same to the allocator and keeps nothing else', () => {
    const svc = fullService();
    slimAllocatorService(svc);
    expect(readRequest(svc, { team: 'a' })).toEqual(readRequest(fullService(), { team: 'a' }));
    expect(isHandled(svc, 'purelb.io/purelb')).toBe(true);
    expect(ingressIPs(svc)).toEqual(ingressIPs(fullService()));
    expect(serviceInput(svc)).toEqual(serviceInput(fullService()));
    expect(svc).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'web',
        namespace: 'shop',
        uid: 'u-1',
        resourceVersion: '42',
        creationTimestamp: new Date(1000),
        labels: { app: 'web' },
        annotations: {
          'purelb.io/service-group': 'lan',
          'purelb.io/allow-shared-ip': 'k1',
          'purelb.io/addresses': '192.168.1.240, fd00::240',
          'purelb.io/allocated-from': 'lan',
        },
      },
      spec: {
        type: 'LoadBalancer',
        loadBalancerClass: 'purelb.io/purelb',
        externalTrafficPolicy: 'Local',
        ipFamilies: ['IPv6', 'IPv4'],
        ipFamilyPolicy: 'RequireDualStack',
        ports: [
          { port: 80, protocol: 'TCP' },
          { port: 53, protocol: 'UDP' },
        ],
      },
      status: { loadBalancer: { ingress: [{ ip: 'fd00::240' }, { ip: '192.168.1.240' }] } },
    });
  });

  test('spec.loadBalancerIP is kept, a port without protocol stays TCP, trimming twice changes nothing', () => {
    const svc: V1Service = {
      metadata: { name: 'old', namespace: 'default' },
      spec: { type: 'LoadBalancer', loadBalancerIP: '192.168.1.9', ports: [{ port: 443 }] },
    };
    const before = readRequest(structuredClone(svc));
    slimAllocatorService(svc);
    const once = structuredClone(svc);
    slimAllocatorService(svc);
    expect(svc).toEqual(once);
    expect(readRequest(svc)).toEqual(before);
    expect(before.ports).toEqual(['TCP/443']);
    expect(before.pinnedBy).toBe('spec.loadBalancerIP');
  });
});
