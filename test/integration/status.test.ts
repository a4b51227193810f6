// `purelb status` against the real apiserver: the objects PureLB's components write (ServiceGroup status,
// allocated Services with annotations, heartbeat Leases, NodeRoutingStatus objects, EndpointSlices)
// are read back by the real CLI process and reported per pool, Service and node.
import { GROUP, NODE_ROUTING_STATUS_PLURAL, VERSION } from '../../src/api/names.ts';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  V1MicroTime,
  type KubeConfig,
} from '@kubernetes/client-node';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import type { StatusReport } from '../../src/status/report.ts';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace, mergePatch } from '../harness/kube.ts';

let kc: KubeConfig;
let ns: string;
let svcNs: string;

const custom = () => kc.makeApiClient(CustomObjectsApi);

async function createWithStatus(
  plural: string,
  body: Record<string, unknown>,
  status: Record<string, unknown>,
): Promise<void> {
  const name = (body.metadata as { name: string }).name;
  await custom().createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural, body });
  await custom().patchNamespacedCustomObjectStatus(
    { group: GROUP, version: VERSION, namespace: ns, plural, name, body: { status } },
    mergePatch,
  );
}

async function lbService(
  name: string,
  ips: string[],
  annotations: Record<string, string>,
  etp: 'Cluster' | 'Local',
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedService({
    namespace: svcNs,
    body: {
      metadata: { name, annotations: { 'purelb.io/allocated-by': 'PureLB', ...annotations } },
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: etp,
        allocateLoadBalancerNodePorts: false,
        ipFamilyPolicy: ips.length > 1 ? 'RequireDualStack' : 'SingleStack',
        ipFamilies: ips.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')),
        ports: [{ port: 80, protocol: 'TCP' }],
      },
    },
  });
  await core.patchNamespacedServiceStatus(
    { name, namespace: svcNs, body: { status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } } },
    mergePatch,
  );
}

async function heartbeat(node: string, subnets: string): Promise<void> {
  await kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
    namespace: ns,
    body: {
      metadata: { name: `purelb-node-${node}`, annotations: { 'purelb.io/subnets': subnets } },
      spec: { holderIdentity: node, leaseDurationSeconds: 600, renewTime: new V1MicroTime() },
    },
  });
}

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
  ns = await freshNamespace(kc, 'status');
  svcNs = await freshNamespace(kc, 'status-svc');
  await createWithStatus(
    'servicegroups',
    {
      apiVersion: 'purelb.io/v1',
      kind: 'ServiceGroup',
      metadata: { name: 'virtual' },
      spec: {
        local: {
          v4pool: { subnet: '10.200.0.0/24', pool: '10.200.0.10-10.200.0.19', aggregation: '/32' },
          v6pool: { subnet: 'fd00:200::/120', pool: 'fd00:200::10-fd00:200::1f', aggregation: '/128' },
        },
      },
    },
    {
      allocatedIPv4: 2,
      availableIPv4: 8,
      allocatedIPv6: 1,
      availableIPv6: 15,
      conditions: [
        {
          type: 'Valid',
          status: 'True',
          reason: 'Parsed',
          message: 'ok',
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    },
  );
  await createWithStatus(
    'servicegroups',
    {
      apiVersion: 'purelb.io/v1',
      kind: 'ServiceGroup',
      metadata: { name: 'lan' },
      spec: {
        local: {
          v4pool: { subnet: '192.168.100.0/24', pool: '192.168.100.240-192.168.100.247', aggregation: 'default' },
        },
      },
    },
    { allocatedIPv4: 1, availableIPv4: 7 },
  );
  await lbService('web', ['10.200.0.10', 'fd00:200::10'], { 'purelb.io/allocated-from': 'virtual' }, 'Cluster');
  await lbService('only-local', ['10.200.0.11'], { 'purelb.io/allocated-from': 'virtual' }, 'Local');
  await lbService(
    'lan',
    ['192.168.100.240'],
    { 'purelb.io/allocated-from': 'lan', 'purelb.io/announcing-IPv4': 'n2,eth0' },
    'Cluster',
  );
  await kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
    namespace: svcNs,
    body: {
      metadata: { name: 'only-local-1', labels: { 'kubernetes.io/service-name': 'only-local' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['192.168.100.3'], nodeName: 'n2', conditions: { ready: true } }],
      ports: [{ port: 80, protocol: 'TCP' }],
    },
  });
  await heartbeat('n1', '192.168.100.0/24,fd00:100::/64');
  await heartbeat('n2', '192.168.100.0/24');
  // what each node's agent writes: its NodeRoutingStatus, named after the node
  const routing = (node: string, status: Record<string, unknown>) =>
    custom().createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: NODE_ROUTING_STATUS_PLURAL,
      body: { apiVersion: 'purelb.io/v1', kind: 'NodeRoutingStatus', metadata: { name: node }, status },
    });
  await routing('n1', {
    routerConfig: 'tor',
    daemon: 'bird',
    protocol: 'bgp',
    lastReload: { time: new Date().toISOString(), result: 'Applied' },
    sessions: [{ name: 'tor', state: 'Established' }],
    advertised: ['10.200.0.10/32', 'fd00:200::10/128'],
  });
  await routing('n2', {
    routerConfig: 'tor',
    daemon: 'bird',
    protocol: 'bgp',
    lastReload: { time: new Date().toISOString(), result: 'Rejected', error: 'line 3: syntax error' },
    sessions: [{ name: 'tor', state: 'Established' }],
    advertised: ['10.200.0.10/32', '10.200.0.11/32'],
  });
});

afterAll(cleanUpNamespaces);

async function purelbStatus(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [
    join(repoRoot, 'bin', 'purelb.js'),
    'status',
    '--kubeconfig',
    process.env.PURELB_TEST_KUBECONFIG!,
    '--namespace',
    ns,
    ...args,
  ]);
  return stdout;
}

test('purelb status -o json: pools, Services (local/virtual, announcing, ETP) and per-node routing from the apiserver', async () => {
  const report = JSON.parse(await purelbStatus(['-o', 'json'])) as StatusReport;
  expect(report.pools).toEqual([
    { group: 'lan', valid: null, ipv4: { used: 1, free: 7 }, ipv6: null },
    { group: 'virtual', valid: true, ipv4: { used: 2, free: 8 }, ipv6: { used: 1, free: 15 } },
  ]);
  const mine = report.services.filter((s) => s.service.startsWith(`${svcNs}/`));
  expect(mine).toEqual([
    {
      service: `${svcNs}/lan`,
      address: '192.168.100.240',
      family: 4,
      group: 'lan',
      kind: 'local',
      etp: 'Cluster',
      announcing: ['n2'],
      ineligible: {},
    },
    {
      service: `${svcNs}/only-local`,
      address: '10.200.0.11',
      family: 4,
      group: 'virtual',
      kind: 'virtual',
      etp: 'Local',
      announcing: ['n2'],
      endpointNodes: ['n2'],
      ineligible: { n1: 'no endpoint' },
    },
    {
      service: `${svcNs}/web`,
      address: '10.200.0.10',
      family: 4,
      group: 'virtual',
      kind: 'virtual',
      etp: 'Cluster',
      announcing: ['n1', 'n2'],
      ineligible: {},
    },
    {
      service: `${svcNs}/web`,
      address: 'fd00:200::10',
      family: 6,
      group: 'virtual',
      kind: 'virtual',
      etp: 'Cluster',
      announcing: ['n1'],
      // n2 would carry it, but its routing config was rejected and the one it runs has no such route
      ineligible: { n2: 'routing rejected' },
    },
  ]);
  expect(
    report.nodes.map((n) => [n.name, n.heartbeat, n.routerConfig, n.daemon, n.lastReload, n.sessions.length]),
  ).toEqual([
    ['n1', 'live', 'tor', 'bird', 'Applied', 1],
    ['n2', 'live', 'tor', 'bird', 'Rejected: line 3: syntax error', 1],
  ]);
});

test('purelb status prints the human tables by default', async () => {
  const text = await purelbStatus([]);
  expect(text).toMatch(/virtual\s+yes\s+2\/8\s+1\/15/);
  expect(text).toMatch(
    new RegExp(`${svcNs}/only-local\\s+10\\.200\\.0\\.11\\s+virtual\\s+virtual\\s+Local \\(endpoints: n2\\)\\s+n2`),
  );
  expect(text).toMatch(/n2\s+live\s+bird\/bgp\s+Rejected: line 3: syntax error\s+tor=Established\s+2/);
});
