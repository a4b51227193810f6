// The lab's sample objects, as pure data built from the plan: a local pool on the LAN and a virtual
// pool routed via the ToR, Services of each kind, and the EndpointSlices a controller-manager would
// write (the lab has none), pointing at the nodes that "run" each Service.
import { API_VERSION } from '../api/names.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANN } from '../api/annotations.ts';
import { VIRTUAL_POOLS, type LabPlan } from './plan.ts';

export const SAMPLE_NAMESPACE = 'default';
export const LOCAL_GROUP = 'lan';
export const VIRTUAL_GROUP = 'virtual';
/** Ports the node responders listen on: every sample Service port. */
export const RESPONDER_PORTS = [80, 8080];
export const MANAGED_BY = 'purelb-lab';

type Obj = KubernetesObject & Record<string, unknown>;

export interface SampleService {
  name: string;
  group: string;
  etp: 'Cluster' | 'Local';
  families: ('IPv4' | 'IPv6')[];
  port: number;
  sharedKey?: string;
  /** indexes into plan.nodes of the nodes with a ready endpoint */
  endpointNodes: number[];
}

export function sampleServices(plan: LabPlan): SampleService[] {
  const all = plan.nodes.map((_, i) => i);
  // ETP Local: endpoints on the first ceil(n/2) nodes (a real subset as soon as there are 2 nodes)
  const subset = all.slice(0, Math.max(1, Math.ceil(plan.nodes.length / 2)));
  const hasV6 = plan.lan.v6 !== undefined;
  const dual: SampleService['families'] = hasV6 ? ['IPv4', 'IPv6'] : ['IPv4'];
  return [
    { name: 'web', group: VIRTUAL_GROUP, etp: 'Cluster', families: ['IPv4'], port: 80, endpointNodes: all },
    { name: 'web-local', group: VIRTUAL_GROUP, etp: 'Local', families: dual, port: 80, endpointNodes: subset },
    {
      name: 'shared-a',
      group: VIRTUAL_GROUP,
      etp: 'Cluster',
      families: ['IPv4'],
      port: 80,
      sharedKey: 'shared',
      endpointNodes: all,
    },
    {
      name: 'shared-b',
      group: VIRTUAL_GROUP,
      etp: 'Cluster',
      families: ['IPv4'],
      port: 8080,
      sharedKey: 'shared',
      endpointNodes: all,
    },
    { name: 'dual', group: VIRTUAL_GROUP, etp: 'Cluster', families: ['IPv4', 'IPv6'], port: 80, endpointNodes: all },
    { name: 'lan-web', group: LOCAL_GROUP, etp: 'Cluster', families: dual, port: 80, endpointNodes: all },
  ];
}

export function sampleServiceGroups(plan: LabPlan, namespace: string): Obj[] {
  const lanV6 = plan.lan.v6;
  return [
    {
      apiVersion: API_VERSION,
      kind: 'ServiceGroup',
      metadata: { name: LOCAL_GROUP, namespace },
      spec: {
        local: {
          v4pools: [{ subnet: plan.lan.v4, pool: plan.localPools.v4, aggregation: 'default' }],
          ...(lanV6 && plan.localPools.v6
            ? { v6pools: [{ subnet: lanV6, pool: plan.localPools.v6, aggregation: 'default' }] }
            : {}),
        },
      },
    },
    {
      apiVersion: API_VERSION,
      kind: 'ServiceGroup',
      metadata: { name: VIRTUAL_GROUP, namespace },
      spec: {
        local: {
          v4pools: [{ subnet: VIRTUAL_POOLS.v4, pool: '10.200.0.10-10.200.0.250', aggregation: '/32' }],
          v6pools: [{ subnet: VIRTUAL_POOLS.v6, pool: 'fd00:200::10-fd00:200::ff', aggregation: '/128' }],
        },
      },
    },
  ];
}

export function serviceObject(s: SampleService, namespace = SAMPLE_NAMESPACE): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: s.name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY },
      annotations: { [ANN.serviceGroup]: s.group, ...(s.sharedKey ? { [ANN.allowSharedIP]: s.sharedKey } : {}) },
    },
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: s.etp,
      ipFamilies: s.families,
      ipFamilyPolicy: s.families.length > 1 ? 'RequireDualStack' : 'SingleStack',
      ports: [{ name: 'http', port: s.port, targetPort: s.port, protocol: 'TCP' }],
      selector: { app: s.name },
    },
  };
}

/** One slice per family with one ready endpoint per node in `nodeIndexes` (address = the node's LAN IP). */
export function endpointSlices(
  plan: LabPlan,
  s: SampleService,
  nodeIndexes = s.endpointNodes,
  namespace = SAMPLE_NAMESPACE,
): Obj[] {
  return s.families.flatMap((family) => {
    const endpoints = nodeIndexes
      .map((i) => plan.nodes[i]!)
      .flatMap((n) => {
        const address = family === 'IPv4' ? n.ipv4 : n.ipv6;
        return address
          ? [{ addresses: [address], nodeName: n.name, conditions: { ready: true, serving: true, terminating: false } }]
          : [];
      });
    return [
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${s.name}-${family.toLowerCase()}`,
          namespace,
          labels: { 'kubernetes.io/service-name': s.name, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
        },
        addressType: family,
        endpoints,
        ports: [{ name: 'http', port: s.port, protocol: 'TCP' }],
      },
    ];
  });
}

/** Node objects: the agent reads its labels (RouterConfig selection); no kubelet writes them here. */
export function nodeObjects(plan: LabPlan): Obj[] {
  return plan.nodes.map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'purelb.io/lab': plan.options.name } },
    status: {
      addresses: [
        { type: 'InternalIP', address: n.ipv4 },
        ...(n.ipv6 ? [{ type: 'InternalIP', address: n.ipv6 }] : []),
        { type: 'Hostname', address: n.name },
      ],
    },
  }));
}

/** The sample workload image (lab/images/echo): answers `pod=POD node=NODE` on ECHO_PORT. */
export const ECHO_IMAGE = 'docker.io/library/purelb-lab-echo:0.1.0';
export const ECHO_PORT = 8080;

/** The Deployment behind a sample Service: one pod on each of its endpoint nodes (pinned by node name,
 * one per node), so the EndpointSlice controller writes the endpoints the plan expects. */
export function sampleWorkload(plan: LabPlan, s: SampleService, namespace = SAMPLE_NAMESPACE): Obj {
  const nodes = s.endpointNodes.map((i) => plan.nodes[i]!.name);
  const labels = { app: workloadName(s) };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: workloadName(s), namespace, labels: { 'app.kubernetes.io/managed-by': MANAGED_BY } },
    spec: {
      replicas: nodes.length,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodes }] },
                ],
              },
            },
          },
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'DoNotSchedule',
              labelSelector: { matchLabels: labels },
            },
          ],
          terminationGracePeriodSeconds: 15,
          containers: [
            {
              name: 'echo',
              image: ECHO_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'PORT', value: String(ECHO_PORT) },
              ],
              ports: [{ name: 'http', containerPort: ECHO_PORT }],
              readinessProbe: { httpGet: { path: '/healthz', port: ECHO_PORT }, periodSeconds: 2 },
              resources: { requests: { cpu: '5m', memory: '8Mi' }, limits: { memory: '32Mi' } },
              securityContext: {
                runAsUser: 65534,
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

/** Services whose endpoints are every node share one Deployment; the others get their own. */
export const workloadName = (s: SampleService) => (s.etp === 'Local' ? `echo-${s.name}` : 'echo');

/** The Service of a real-cluster sample: it selects its workload's pods on the echo port. */
export function realServiceObject(s: SampleService, namespace = SAMPLE_NAMESPACE): Obj {
  const svc = serviceObject(s, namespace) as Obj & { spec: Record<string, unknown> };
  return {
    ...svc,
    spec: {
      ...svc.spec,
      ports: [{ name: 'http', port: s.port, targetPort: ECHO_PORT, protocol: 'TCP' }],
      selector: { app: workloadName(s) },
    },
  };
}

/** Each distinct workload of the samples, once. */
export function sampleWorkloads(plan: LabPlan, namespace = SAMPLE_NAMESPACE): Obj[] {
  const byName = new Map<string, Obj>();
  for (const s of sampleServices(plan)) byName.set(workloadName(s), sampleWorkload(plan, s, namespace));
  return [...byName.values()];
}
