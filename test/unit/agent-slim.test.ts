import { describe, expect, test } from '@jest/globals';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { slimService } from '../../src/agent/slim.ts';
import { listAll, LIST_PAGE_SIZE, type ListPage } from '../../src/k8s/informer.ts';
import type { ObjectList } from '../../src/k8s/rest.ts';
import { dropBookkeeping, slimEndpointSlice } from '../../src/k8s/trim.ts';
import { nodesWithEndpoints, serviceInput } from '../../src/model/services.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** A Service as the apiserver sends it, with everything the agent does not read. */
const fullService = (): V1Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'u-1',
    resourceVersion: '42',
    creationTimestamp: new Date(0),
    labels: { app: 'web', tier: 'front' },
    annotations: {
      'purelb.io/allocated-by': 'PureLB',
      'purelb.io/allocated-from': 'g1, g2',
      'purelb.io/announcing-IPv4': 'n1,eth0',
      [LAST_APPLIED]: '{"huge":"copy of the object"}',
      'example.com/other': 'x',
    },
    managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
  },
  spec: {
    type: 'LoadBalancer',
    externalTrafficPolicy: 'Local',
    clusterIP: '10.0.0.9',
    clusterIPs: ['10.0.0.9'],
    ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
    selector: { app: 'web' },
  },
  status: {
    loadBalancer: { ingress: [{ ip: '192.168.1.240', ipMode: 'VIP', ports: [{ port: 80, protocol: 'TCP' }] }] },
  },
});

const fullSlice = (): V1EndpointSlice => ({
  metadata: {
    name: 'web-abc',
    namespace: 'shop',
    resourceVersion: '7',
    labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'x' },
    managedFields: [{ manager: 'kube-controller-manager' }],
  },
  addressType: 'IPv4',
  endpoints: [
    { addresses: ['10.1.0.5'], nodeName: 'n1', conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'p1' } },
    { addresses: ['10.1.0.6'], nodeName: 'n2', conditions: { ready: false, serving: false } },
    { addresses: ['10.1.0.7'], nodeName: 'n3' },
  ],
  ports: [{ port: 8080 }],
});

describe('what the agent keeps of watched objects', () => {
  test('a slim Service reads the same to the agent and keeps nothing else', () => {
    const svc = fullService();
    const before = serviceInput(fullService());
    slimService(svc);
    expect(serviceInput(svc)).toEqual(before);
    expect(svc).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'web',
        namespace: 'shop',
        uid: 'u-1',
        resourceVersion: '42',
        labels: { app: 'web', tier: 'front' },
        annotations: {
          'purelb.io/allocated-by': 'PureLB',
          'purelb.io/allocated-from': 'g1, g2',
          'purelb.io/announcing-IPv4': 'n1,eth0',
        },
      },
      spec: { externalTrafficPolicy: 'Local' },
      status: { loadBalancer: { ingress: [{ ip: '192.168.1.240' }] } },
    });
  });

  test('trimming twice changes nothing more (caches trim listed objects and watch events alike)', () => {
    const svc = fullService();
    slimService(svc);
    const once = structuredClone(svc);
    slimService(svc);
    expect(svc).toEqual(once);
  });

  test('a Service without ingress or annotations stays valid', () => {
    const svc: V1Service = { metadata: { name: 'plain', namespace: 'default' }, spec: { type: 'ClusterIP' } };
    slimService(svc);
    expect(svc).toEqual({ metadata: { name: 'plain', namespace: 'default' }, spec: {}, status: {} });
    expect(serviceInput(svc)).toBeUndefined();
  });

  test('a slim EndpointSlice gives the same nodes with endpoints', () => {
    const slice = fullSlice();
    const before = nodesWithEndpoints([fullSlice()]);
    slimEndpointSlice(slice);
    expect(nodesWithEndpoints([slice])).toEqual(before);
    expect(before).toEqual(new Map([['shop/web', new Set(['n1', 'n3'])]]));
    expect(slice.metadata).toEqual({
      name: 'web-abc',
      namespace: 'shop',
      resourceVersion: '7',
      labels: { 'kubernetes.io/service-name': 'web' },
    });
    expect(slice.endpoints?.map((e) => e.addresses)).toEqual([[], [], []]);
    expect(slice.ports).toBeUndefined();
  });

  test('dropBookkeeping removes managedFields and the last-applied annotation only', () => {
    const svc = fullService();
    dropBookkeeping(svc);
    expect(svc.metadata?.managedFields).toBeUndefined();
    expect(Object.keys(svc.metadata?.annotations ?? {})).toEqual([
      'purelb.io/allocated-by',
      'purelb.io/allocated-from',
      'purelb.io/announcing-IPv4',
      'example.com/other',
    ]);
    expect(svc.spec).toEqual(fullService().spec);
  });
});

describe('listAll', () => {
  const pages = (total: number) => {
    const asked: ListPage[] = [];
    const list = async (page: ListPage): Promise<ObjectList<V1Service>> => {
      asked.push(page);
      const start = Number(page.continue ?? 0);
      const end = Math.min(start + page.limit, total);
      const items = Array.from({ length: end - start }, (_, i) => {
        const s = fullService();
        s.metadata!.name = `s${start + i}`;
        return s;
      });
      // every page reports the snapshot's version, as the apiserver does; later pages carry a token
      return { metadata: { resourceVersion: '900', ...(end < total ? { continue: String(end) } : {}) }, items };
    };
    return { asked, list };
  };

  test('fetches page after page, trims every object, keeps the snapshot version', async () => {
    const { asked, list } = pages(LIST_PAGE_SIZE * 2 + 3);
    const all = await listAll(list, slimService);
    expect(asked).toEqual([
      { limit: LIST_PAGE_SIZE },
      { limit: LIST_PAGE_SIZE, continue: String(LIST_PAGE_SIZE) },
      { limit: LIST_PAGE_SIZE, continue: String(LIST_PAGE_SIZE * 2) },
    ]);
    expect(all.items).toHaveLength(LIST_PAGE_SIZE * 2 + 3);
    expect(all.items[LIST_PAGE_SIZE * 2 + 2]!.metadata?.name).toBe(`s${LIST_PAGE_SIZE * 2 + 2}`);
    expect(all.items.every((s) => s.spec?.ports === undefined && !s.metadata?.managedFields)).toBe(true);
    expect(all.metadata).toEqual({ resourceVersion: '900' });
  });

  test('a list function that ignores the page answers in one go', async () => {
    const all = await listAll(async () => ({ metadata: { resourceVersion: '5' }, items: [fullService()] }));
    expect(all.items).toHaveLength(1);
    expect(all.items[0]!.metadata?.managedFields).toBeDefined();
  });
});
