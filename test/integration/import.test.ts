// MetalLB and PureLB v2 configurations, written in the shapes their documentation describes, imported with
// `purelb import` and applied to the real apiserver: the apiserver accepts every object (server-side
// dry-run; per-pool BGP advertisements and advertisement nodeSelectors included), the Service patches apply to the existing Services, and the real allocator gives each Service
// the address it had under MetalLB. A new Service without annotations gets its address from the pool named
// by --default-pool.
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { dump, loadAll } from 'js-yaml';
import type { AllocatorController } from '../../src/allocator/controller.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kubectl, objectId, type K8sObject } from '../harness/deploy.ts';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace } from '../harness/kube.ts';
import { createService, startInProcess, waitForIngress } from './allocator-fixtures.ts';

let kc: KubeConfig;
let allocator: AllocatorController | undefined;
const dir = mkdtempSync(join(tmpdir(), 'purelb-import-it-'));
const kubeconfig = () => process.env.PURELB_TEST_KUBECONFIG!;

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
});
afterEach(async () => {
  await allocator?.stop();
  allocator = undefined;
});
afterAll(async () => {
  await cleanUpNamespaces();
  rmSync(dir, { recursive: true, force: true });
});

/** The MetalLB side: pools, BGP, and the Services as `kubectl get svc -o yaml` showed them under MetalLB. */
const metallbConfig = (ns: string) => `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.168.10.240-192.168.10.250, 'fd00:10::f0-fd00:10::ff']
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: routed, namespace: metallb-system}
spec:
  addresses: [172.31.100.0/24]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: premium, namespace: metallb-system}
spec:
  addresses: [172.31.101.0/24]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan], nodeSelectors: [{matchExpressions: [{key: topology.kubernetes.io/zone, operator: Exists}]}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 192.168.10.1, holdTime: 9s, keepaliveTime: 3s, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: routed, namespace: metallb-system}
spec: {ipAddressPools: [routed], communities: ['65000:100'], localPref: 120}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: premium, namespace: metallb-system}
spec: {ipAddressPools: [premium], communities: ['large:64512:1:1'], nodeSelectors: [{matchLabels: {edge: 'true'}}]}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: ${ns}, annotations: {metallb.io/loadBalancerIPs: 192.168.10.245}}
  spec: {type: LoadBalancer, ports: [{name: http, port: 80, protocol: TCP}]}
  status: {loadBalancer: {ingress: [{ip: 192.168.10.245}]}}
- apiVersion: v1
  kind: Service
  metadata: {name: api, namespace: ${ns}, annotations: {metallb.io/address-pool: routed}}
  spec: {type: LoadBalancer, ports: [{name: https, port: 443, protocol: TCP}]}
  status: {loadBalancer: {ingress: [{ip: 172.31.100.7}]}}
- apiVersion: v1
  kind: Service
  metadata: {name: dual, namespace: ${ns}, annotations: {metallb.io/loadBalancerIPs: '192.168.10.246, fd00:10::f6'}}
  spec: {type: LoadBalancer, ipFamilies: [IPv4, IPv6], ipFamilyPolicy: RequireDualStack, ports: [{name: http, port: 80, protocol: TCP}]}
- apiVersion: v1
  kind: Service
  metadata: {name: dns-tcp, namespace: ${ns}, annotations: {metallb.io/allow-shared-ip: dns, metallb.io/loadBalancerIPs: 192.168.10.247}}
  spec: {type: LoadBalancer, ports: [{name: dns, port: 53, protocol: TCP}]}
- apiVersion: v1
  kind: Service
  metadata: {name: dns-udp, namespace: ${ns}, annotations: {metallb.universe.tf/allow-shared-ip: dns, metallb.universe.tf/loadBalancerIPs: 192.168.10.247}}
  spec: {type: LoadBalancer, ports: [{name: dns, port: 53, protocol: UDP}]}
- apiVersion: v1
  kind: Service
  metadata: {name: auto, namespace: ${ns}}
  spec: {type: LoadBalancer, ports: [{name: http, port: 8080, protocol: TCP}]}
  status: {loadBalancer: {ingress: [{ip: 192.168.10.249}]}}
`;

/** What MetalLB had given each Service. */
const HAD: Record<string, string[]> = {
  web: ['192.168.10.245'],
  api: ['172.31.100.7'],
  dual: ['192.168.10.246', 'fd00:10::f6'],
  'dns-tcp': ['192.168.10.247'],
  'dns-udp': ['192.168.10.247'],
  auto: ['192.168.10.249'],
};

test('imported groups, RouterConfig and Service patches: accepted by the apiserver, and every Service gets the address it had under MetalLB', async () => {
  const ns = await freshNamespace(kc, 'import');
  const input = join(dir, 'metallb.yaml');
  writeFileSync(input, metallbConfig(ns));
  const patchesFile = join(dir, 'patches.yaml');
  const run = spawnSync(
    process.execPath,
    [
      join(repoRoot, 'bin/purelb.js'),
      'import',
      '--from',
      'metallb',
      '-f',
      input,
      '-n',
      ns,
      '--daemon',
      'bird',
      '--node-subnet',
      '192.168.10.0/24',
      '--node-subnet',
      'fd00:10::/64',
      '--default-pool',
      'lan',
      '--service-patches',
      patchesFile,
    ],
    { encoding: 'utf8' },
  );
  expect(run.stderr).toBe(
    `# RouterConfig ${ns}/metallb: advertisement routed (from BGPAdvertisement routed) leaves out localPref 120: every peer is eBGP and LOCAL_PREF goes to iBGP peers only, as in MetalLB\n` +
      `# 4 object(s) written, 6 Service patch(es) written to ${patchesFile}; 0 thing(s) not mapped\n`,
  );
  expect(run.status).toBe(0);
  const imported = loadAll(run.stdout) as K8sObject[];
  expect(imported.map(objectId)).toEqual([
    `ServiceGroup/${ns}/default`,
    `ServiceGroup/${ns}/routed`,
    `ServiceGroup/${ns}/premium`,
    `RouterConfig/${ns}/metallb`,
  ]);

  // the apiserver (OpenAPI schema and CEL rules of the installed CRDs) accepts every imported object
  const dry = await kubectl(['apply', '--dry-run=server', '-f', '-', '-o', 'json'], {
    kubeconfig: kubeconfig(),
    input: run.stdout,
  });
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(0);
  const accepted = JSON.parse(dry.stdout) as { items: K8sObject[] };
  expect(accepted.items.map(objectId)).toEqual(imported.map(objectId));
  // the advertisement nodeSelectors and per-pool attributes, as the apiserver stores them
  type Spec = { spec: { nodeSelectors?: unknown; bgp?: { advertisements?: unknown } } };
  const stored = (id: string) => accepted.items.find((o) => objectId(o) === id) as K8sObject & Spec;
  expect(stored(`ServiceGroup/${ns}/default`).spec.nodeSelectors).toEqual([
    { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'Exists' }] },
  ]);
  expect(stored(`ServiceGroup/${ns}/premium`).spec.nodeSelectors).toEqual([{ matchLabels: { edge: 'true' } }]);
  expect(stored(`RouterConfig/${ns}/metallb`).spec.bgp!.advertisements).toEqual([
    { name: 'routed', serviceGroups: ['routed'], communities: ['65000:100'] },
    { name: 'premium', serviceGroups: ['premium'], communities: ['large:64512:1:1'] },
  ]);

  // the cluster after MetalLB is removed: its Services without status, then the groups and the patches
  const groups = imported.filter((o) => o.kind === 'ServiceGroup');
  const apply = await kubectl(['apply', '-f', '-'], {
    kubeconfig: kubeconfig(),
    input: groups.map((g) => dump(g)).join('---\n'),
  });
  expect(apply.code).toBe(0);
  const services = (loadAll(metallbConfig(ns)) as Array<{ kind: string; items?: Array<Record<string, unknown>> }>)
    .find((d) => d.kind === 'List')!
    .items!.map(({ status: _status, ...svc }) => svc);
  const created = await kubectl(['create', '-f', '-'], {
    kubeconfig: kubeconfig(),
    input: services.map((s) => dump(s)).join('---\n'),
  });
  expect(created.stderr).toBe('');
  const patched = await kubectl(['apply', '--server-side', '--field-manager=purelb-import', '-f', patchesFile], {
    kubeconfig: kubeconfig(),
  });
  expect(patched.stderr).toBe('');
  expect(patched.stdout.trim().split('\n')).toEqual(Object.keys(HAD).map((n) => `service/${n} serverside-applied`));
  expect(readFileSync(patchesFile, 'utf8')).toContain('purelb.io/addresses: 172.31.100.7');

  allocator = await startInProcess(kc, ns);
  for (const [name, ips] of Object.entries(HAD))
    await waitForIngress(kc, ns, name, ips, name === 'api' ? 'routed' : 'default');

  // a Service created after the switch, without annotations: the lowest free address of the default group
  await createService(kc, ns, 'fresh');
  await waitForIngress(kc, ns, 'fresh', ['192.168.10.240'], 'default');
});

test('PureLB v2 groups and agent config imported to v1: accepted by the apiserver; a Service naming a group gets its address', async () => {
  const ns = await freshNamespace(kc, 'import-v2');
  const input = join(dir, 'v2.yaml');
  writeFileSync(
    input,
    `
apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: lan, namespace: purelb-system}
spec:
  local:
    v4pools: [{pool: 192.168.20.240-192.168.20.250, subnet: 192.168.20.0/24, aggregation: default}]
---
apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: routed, namespace: purelb-system}
spec:
  remote:
    v4pools: [{pool: 172.31.200.0/24, subnet: 172.31.200.0/24, aggregation: /32}]
---
apiVersion: purelb.io/v2
kind: LBNodeAgent
metadata: {name: default, namespace: purelb-system}
spec: {local: {localInterface: default, dummyInterface: kube-lb0, garpConfig: {enabled: true}}}
`,
  );
  const run = spawnSync(
    process.execPath,
    [join(repoRoot, 'bin/purelb.js'), 'import', '--from', 'purelb-v2', '-f', input, '-n', ns],
    {
      encoding: 'utf8',
    },
  );
  expect(run.stderr).toBe('# 3 object(s) written; 0 thing(s) not mapped\n');
  expect(run.status).toBe(0);
  const dry = await kubectl(['apply', '--dry-run=server', '-f', '-', '-o', 'json'], {
    kubeconfig: kubeconfig(),
    input: run.stdout,
  });
  expect(dry.stderr).toBe('');
  expect((JSON.parse(dry.stdout) as { items: K8sObject[] }).items.map(objectId)).toEqual([
    `ServiceGroup/${ns}/lan`,
    `ServiceGroup/${ns}/routed`,
    `LBNodeAgent/${ns}/default`,
  ]);
  const groups = (loadAll(run.stdout) as K8sObject[]).filter((o) => o.kind === 'ServiceGroup');
  expect(
    (await kubectl(['apply', '-f', '-'], { kubeconfig: kubeconfig(), input: groups.map((g) => dump(g)).join('---\n') }))
      .code,
  ).toBe(0);
  allocator = await startInProcess(kc, ns);
  await createService(kc, ns, 'web', { annotations: { 'purelb.io/service-group': 'routed' } });
  await waitForIngress(kc, ns, 'web', ['172.31.200.0'], 'routed');
});
