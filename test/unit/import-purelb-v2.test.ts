// The PureLB v2 importer on objects written in the shapes PureLB v2 documents: local and remote pools
// become v1 pools, the LBNodeAgent keeps its interfaces and GARP switch, and what v1 cannot express
// (tenancy, pool options, external IPAM, GARP timing, the v2 class) is reported.
import { expect, test } from '@jest/globals';
import { loadAll } from 'js-yaml';
import { validateObjects } from '../../src/api/validate.ts';
import { importPureLBv2 } from '../../src/import/purelb-v2.ts';
import { formatUnmapped, type SourceObject } from '../../src/import/report.ts';

const run = (yaml: string) => {
  const r = importPureLBv2(loadAll(yaml) as SourceObject[], { namespace: 'purelb' });
  return { ...r, report: r.unmapped.map(formatUnmapped) };
};

test('local and remote ServiceGroups become v1 pools in the install namespace; tenancy and options reported', () => {
  const r = run(`
apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: lan, namespace: purelb-system}
spec:
  namespaces: [shop, blog]
  enforceNamespaces: true
  local:
    v4pools: [{pool: 192.168.10.240-192.168.10.250, subnet: 192.168.10.0/24, aggregation: default}]
    v6pool: {pool: 'fd00:10::f0-fd00:10::ff', subnet: 'fd00:10::/64'}
    skipIPv6DAD: true
    multiPool: true
---
apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: routed, namespace: purelb-system}
spec:
  remote:
    v4pool: {pool: 172.31.100.0/24, subnet: 172.31.100.0/24, aggregation: /32}
    v6pools: [{pool: 'fd00:31::/120', subnet: 'fd00:31::/64'}]
---
apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: ipam, namespace: purelb-system}
spec:
  external: {provider: netbox, announce: remote}
`);
  expect(r.objects).toEqual([
    {
      apiVersion: 'purelb.io/v1',
      kind: 'ServiceGroup',
      metadata: { name: 'lan', namespace: 'purelb' },
      spec: {
        local: {
          v6pool: { pool: 'fd00:10::f0-fd00:10::ff', subnet: 'fd00:10::/64' },
          v4pools: [{ pool: '192.168.10.240-192.168.10.250', subnet: '192.168.10.0/24', aggregation: 'default' }],
        },
      },
    },
    {
      apiVersion: 'purelb.io/v1',
      kind: 'ServiceGroup',
      metadata: { name: 'routed', namespace: 'purelb' },
      spec: {
        local: {
          v4pool: { pool: '172.31.100.0/24', subnet: '172.31.100.0/24', aggregation: '/32' },
          v6pools: [{ pool: 'fd00:31::/120', subnet: 'fd00:31::/64' }],
        },
      },
    },
  ]);
  expect(validateObjects(r.objects)).toEqual([]);
  expect(r.report).toEqual([
    'ServiceGroup purelb-system/lan: spec.namespaces: not mapped automatically: scope the group with spec.serviceAllocation by hand (docs/tenancy.md)',
    'ServiceGroup purelb-system/lan: spec.enforceNamespaces: not mapped automatically: scope the group with spec.serviceAllocation by hand (docs/tenancy.md)',
    'ServiceGroup purelb-system/lan: spec.local.skipIPv6DAD: not mapped: the agent always runs IPv6 duplicate address detection',
    'ServiceGroup purelb-system/lan: spec.local.multiPool: not mapped: a Service gets one address per family',
    'ServiceGroup purelb-system/routed: spec.remote: a remote pool with aggregation "default" puts the subnet prefix on kube-lb0, and the managed routing daemons advertise only /32 and /128 routes: set aggregation /32 (IPv4) and /128 (IPv6)',
    'ServiceGroup purelb-system/ipam: spec.external: external IPAM is not supported; not mapped (no ServiceGroup)',
  ]);
});

test('a v2 pool v1 would refuse is not emitted, and the report names the field', () => {
  const r = run(`
apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: bad, namespace: purelb-system}
spec:
  local:
    v4pool: {pool: 10.0.0.9-10.0.0.1, subnet: 10.0.0.0/24}
`);
  expect(r.objects).toEqual([]);
  expect(r.report).toEqual([
    'ServiceGroup purelb/bad: spec.local.v4pool.pool: not emitted: the project would reject it (ServiceGroup purelb/bad: spec.local.v4pool.pool: range start 10.0.0.9 is after its end 10.0.0.1; write "from-to" with from <= to)',
  ]);
});

test('LBNodeAgent: interfaces and the GARP switch map; selector, timing, address options are reported', () => {
  const r = run(`
apiVersion: purelb.io/v2
kind: LBNodeAgent
metadata: {name: default, namespace: purelb-system}
spec:
  nodeSelector: {matchLabels: {lb: 'yes'}}
  local:
    localInterface: '^eth[0-9]$'
    dummyInterface: kube-lb1
    garpConfig: {enabled: false, count: 5}
    interfaces: [eth1]
    addressGuard: {mode: monitor}
---
apiVersion: purelb.io/v2
kind: LBNodeAgent
metadata: {name: plain, namespace: purelb-system}
spec: {local: {}}
`);
  expect(r.objects).toEqual([
    {
      apiVersion: 'purelb.io/v1',
      kind: 'LBNodeAgent',
      metadata: { name: 'default', namespace: 'purelb' },
      spec: { local: { localint: '^eth[0-9]$', extlbint: 'kube-lb1', sendgarp: false } },
    },
    {
      apiVersion: 'purelb.io/v1',
      kind: 'LBNodeAgent',
      metadata: { name: 'plain', namespace: 'purelb' },
      spec: { local: { sendgarp: true } },
    },
  ]);
  expect(r.report).toEqual([
    'LBNodeAgent purelb-system/default: spec.nodeSelector: not mapped: one LBNodeAgent configures every node; limit nodes with the DaemonSet nodeSelector',
    'LBNodeAgent purelb-system/default: spec.local.interfaces: not mapped: each agent learns the subnets of its node and publishes them in its heartbeat Lease',
    'LBNodeAgent purelb-system/default: spec.local.addressGuard: not mapped: there is no address guard',
    'LBNodeAgent purelb-system/default: spec.local.garpConfig.count: not mapped: gratuitous ARP / unsolicited NA is on or off only (sendgarp)',
  ]);
});

test('Services: the v2 class and v2-only annotations are reported; v1 objects and other kinds are not imported', () => {
  const r = run(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, annotations: {purelb.io/service-group: lan, purelb.io/multi-pool: 'true'}}
spec: {type: LoadBalancer, loadBalancerClass: purelb.io/purelbv2}
---
apiVersion: v1
kind: Service
metadata: {name: ok, namespace: shop, annotations: {purelb.io/service-group: lan}}
spec: {type: LoadBalancer}
---
apiVersion: purelb.io/v1
kind: ServiceGroup
metadata: {name: old, namespace: purelb}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x, namespace: purelb-system}
`);
  expect(r.objects).toEqual([]);
  expect(r.servicePatches).toEqual([]);
  expect(r.report).toEqual([
    'Service shop/web: spec.loadBalancerClass: "purelb.io/purelbv2" is immutable and the allocator handles no class or purelb.io/purelb: run the allocator with --lb-class purelb.io/purelbv2, or recreate the Service without a class',
    'Service shop/web: metadata.annotations[purelb.io/multi-pool]: not mapped: a Service gets one address per family',
    'ServiceGroup purelb/old: apiVersion: purelb.io/v1 ServiceGroup is not imported (purelb.io/v2 ServiceGroup and LBNodeAgent only)',
  ]);
  expect(r.notes).toEqual(['skipped v1 ConfigMap purelb-system/x (not a purelb.io/v2 object or Service)']);
});
