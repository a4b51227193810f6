// The recording proxy's mapping from REST requests to RBAC attributes (the apiserver's RequestInfo
// rules), which the deploy RBAC test uses to compare what components call with what RBAC grants.
import { expect, test } from '@jest/globals';
import { requestAttributes } from '../harness/request-recorder.ts';

test.each([
  ['GET', '/api/v1/services?limit=500', { verb: 'list', group: '', resource: 'services', namespace: '', name: '' }],
  [
    'GET',
    '/api/v1/services?watch=true&resourceVersion=5',
    { verb: 'watch', group: '', resource: 'services', namespace: '', name: '' },
  ],
  ['GET', '/api/v1/namespaces/ns1/services/web', { verb: 'get', resource: 'services', namespace: 'ns1', name: 'web' }],
  [
    'PATCH',
    '/api/v1/namespaces/ns1/services/web/status',
    { verb: 'patch', resource: 'services/status', namespace: 'ns1', name: 'web' },
  ],
  [
    'POST',
    '/apis/events.k8s.io/v1/namespaces/ns1/events',
    { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: 'ns1' },
  ],
  [
    'PUT',
    '/apis/coordination.k8s.io/v1/namespaces/purelb/leases/purelb-allocator',
    { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', name: 'purelb-allocator' },
  ],
  [
    'DELETE',
    '/apis/coordination.k8s.io/v1/namespaces/purelb/leases/purelb-node-a',
    { verb: 'delete', resource: 'leases', name: 'purelb-node-a' },
  ],
  ['DELETE', '/apis/coordination.k8s.io/v1/namespaces/purelb/leases', { verb: 'deletecollection', resource: 'leases' }],
  [
    'GET',
    '/apis/purelb.io/v1/namespaces/purelb/servicegroups?watch=1',
    { verb: 'watch', group: 'purelb.io', resource: 'servicegroups' },
  ],
  ['GET', '/api/v1/nodes/node-a', { verb: 'get', group: '', resource: 'nodes', namespace: '', name: 'node-a' }],
  ['GET', '/api/v1/namespaces/purelb', { verb: 'get', resource: 'namespaces', namespace: '', name: 'purelb' }],
  ['GET', '/version', { verb: 'get', resource: '', group: '' }],
])('%s %s', (method, url, expected) => {
  expect(requestAttributes(method, url)).toMatchObject(expected);
});
