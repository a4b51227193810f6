// The Helm chart and the kustomize manifests install the same objects: each case renders the chart with
// `helm template` (the real helm) and a kustomization with `kubectl kustomize` (the real kubectl) for
// equivalent settings, and compares every object field by field. Ignored: Helm's own metadata labels and
// the content-hash suffix of generated ConfigMap names (both tools add one, computed differently).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, test } from '@jest/globals';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kustomize, objectId, type K8sObject } from '../harness/deploy.ts';
import { helm, helmTemplate, CHART, KUBE_VERSION } from '../harness/helm.ts';

const HELM_LABELS = [
  'helm.sh/chart',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
];
/** kustomize's configMapGenerator suffix and the chart's (10 characters of the content's hash) */
const HASH_SUFFIX = /-[a-z0-9]{10}$/;

function normalize(objects: K8sObject[]): Record<string, K8sObject> {
  const renamed = new Map<string, string>();
  for (const o of objects.filter((x) => x.kind === 'ConfigMap' && HASH_SUFFIX.test(x.metadata.name)))
    renamed.set(o.metadata.name, o.metadata.name.replace(HASH_SUFFIX, '-<hash>'));
  const out: Record<string, K8sObject> = {};
  for (const original of objects) {
    // references to a renamed ConfigMap (pod volumes) are renamed with it
    const o = JSON.parse(JSON.stringify(original), (_k, v: unknown) =>
      typeof v === 'string' && renamed.has(v) ? renamed.get(v) : v,
    ) as K8sObject;
    const labels = o.metadata.labels ?? {};
    for (const l of HELM_LABELS) delete labels[l];
    if (o.metadata.labels && Object.keys(labels).length === 0) delete o.metadata.labels;
    out[objectId(o)] = o;
  }
  return out;
}

/** A throw-away kustomization (outside the repository, pointing into it). */
async function kustomizeWith(kustomization: Record<string, unknown>): Promise<K8sObject[]> {
  const dir = mkdtempSync(join(tmpdir(), 'purelb-chart-eq-'));
  const rel = (p: string) => relative(dir, join(repoRoot, p));
  try {
    const k = { ...kustomization } as { resources?: string[]; components?: string[] };
    if (k.resources) k.resources = k.resources.map(rel);
    if (k.components) k.components = k.components.map(rel);
    writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify(k));
    return await kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const controlPlaneToleration = {
  key: 'node-role.kubernetes.io/control-plane',
  operator: 'Exists',
  effect: 'NoSchedule',
};

const cases: Array<[string, () => Promise<K8sObject[]>, Record<string, unknown>]> = [
  ['deploy/purelb (no routing daemon)', () => kustomize('deploy/purelb'), {}],
  ['deploy/purelb/overlays/bird', () => kustomize('deploy/purelb/overlays/bird'), { 'routing.daemon': 'bird' }],
  ['deploy/purelb/overlays/frr', () => kustomize('deploy/purelb/overlays/frr'), { 'routing.daemon': 'frr' }],
  ['deploy/purelb/overlays/gobgp', () => kustomize('deploy/purelb/overlays/gobgp'), { 'routing.daemon': 'gobgp' }],
  [
    'deploy/purelb/overlays/control-plane',
    () => kustomize('deploy/purelb/overlays/control-plane'),
    { 'agent.tolerations': [controlPlaneToleration], 'agent.outOfService': 'cordoned' },
  ],
  // what the real-cluster lab installs (e2e/cluster/helm.test.ts installs the chart with these values)
  ...(['bird', 'frr', 'gobgp'] as const).map((d): (typeof cases)[number] => [
    `lab/overlays/${d}`,
    () => kustomize(`lab/overlays/${d}`),
    { 'routing.daemon': d, 'agent.extraArgs': ['--kube-lb-kind=ifb'] },
  ]),
  [
    'your registry and 3 allocator replicas (kustomize images + replicas)',
    () =>
      kustomizeWith({
        resources: ['deploy/purelb/overlays/bird'],
        images: [
          { name: 'purelb-ts-allocator', newName: 'registry.example/purelb-ts-allocator', newTag: '0.2.0' },
          { name: 'purelb-ts-agent', newName: 'registry.example/purelb-ts-agent', newTag: '0.2.0' },
          { name: 'purelb-bird', newName: 'registry.example/purelb-bird', newTag: '2.0.12-1' },
        ],
        replicas: [{ name: 'allocator', count: 3 }],
      }),
    {
      'routing.daemon': 'bird',
      'image.allocator.repository': 'registry.example/purelb-ts-allocator',
      'image.allocator.tag': '0.2.0',
      'image.agent.repository': 'registry.example/purelb-ts-agent',
      'image.agent.tag': '0.2.0',
      'image.bird.repository': 'registry.example/purelb-bird',
      'image.bird.tag': '2.0.12-1',
      'allocator.replicas': 3,
    },
  ],
  [
    'deploy/purelb/components/monitoring',
    () => kustomizeWith({ resources: ['deploy/purelb'], components: ['deploy/purelb/components/monitoring'] }),
    { 'monitoring.dashboard.enabled': true, 'monitoring.rules.enabled': true, 'monitoring.podMonitor.enabled': true },
  ],
];

describe.each(cases)('%s', (_name, render, values) => {
  test('helm template renders the same objects as kubectl kustomize', async () => {
    const [fromKustomize, fromHelm] = await Promise.all([
      render(),
      helmTemplate({ 'namespace.create': true, ...values }),
    ]);
    const k = normalize(fromKustomize);
    const h = normalize(fromHelm);
    expect(Object.keys(h).sort()).toEqual(Object.keys(k).sort());
    for (const id of Object.keys(k)) expect({ id, object: h[id] }).toEqual({ id, object: k[id] });
  });
});

test('the comparison sees a difference: the default chart is not the bird overlay', async () => {
  const k = normalize(await kustomize('deploy/purelb/overlays/bird'));
  const h = normalize(await helmTemplate({ 'namespace.create': true }));
  expect(Object.keys(k).filter((id) => !h[id])).toEqual(['DaemonSet/purelb/purelb-bird']);
  // one changed value is one changed field
  const ports = normalize(await helmTemplate({ 'namespace.create': true, 'agent.metricsPort': 7573 }));
  const agent = ports['DaemonSet/purelb/lbnodeagent'] as unknown as {
    spec: { template: { spec: { containers: Array<{ args: string[]; ports: Array<{ containerPort: number }> }> } } };
  };
  expect(agent.spec.template.spec.containers[0]!.args).toEqual(['agent', '--health-port', '7573']);
  expect(agent.spec.template.spec.containers[0]!.ports[0]!.containerPort).toBe(7573);
  expect(ports['DaemonSet/purelb/lbnodeagent']).not.toEqual(h['DaemonSet/purelb/lbnodeagent']);
});

test('without namespace.create the chart leaves the namespace to helm --create-namespace', async () => {
  const objects = await helmTemplate();
  expect(objects.filter((o) => o.kind === 'Namespace')).toEqual([]);
  expect(new Set(objects.filter((o) => o.metadata.namespace).map((o) => o.metadata.namespace))).toEqual(
    new Set(['purelb']),
  );
});

test('ServiceGroups and RouterConfigs from values are rendered as given, in the release namespace', async () => {
  const sg = {
    name: 'lan',
    spec: {
      local: { v4pools: [{ subnet: '192.168.1.0/24', pool: '192.168.1.240-192.168.1.250', aggregation: 'default' }] },
    },
  };
  const rc = {
    name: 'tor',
    spec: {
      daemon: 'bird',
      protocol: 'bgp',
      bgp: { localASN: 64512, peers: [{ address: '192.168.1.1', asn: 64500 }] },
    },
  };
  const objects = normalize(await helmTemplate({ serviceGroups: [sg], routerConfigs: [rc] }, ['--namespace', 'lb']));
  expect(objects['ServiceGroup/lb/lan']).toEqual({
    apiVersion: 'purelb.io/v1',
    kind: 'ServiceGroup',
    metadata: { name: 'lan', namespace: 'lb' },
    spec: sg.spec,
  });
  expect(objects['RouterConfig/lb/tor']!.spec).toEqual(rc.spec);
});

test.each([
  ['routing.daemon=quagga', "at '/routing/daemon': value must be one of 'none', 'bird', 'frr', 'gobgp'"],
  ['allocator.replicas=two', "at '/allocator/replicas': got string, want integer"],
  ['agent.metricsPort=70000', "at '/agent/metricsPort': maximum: got 70,000, want 65,535"],
  ['serviceGroups[0].spec.local.v4pools=null', "at '/serviceGroups/0': missing property 'name'"],
])('bad values are refused by the chart schema, naming the value: --set %s', async (set, message) => {
  const run = await helm(['template', 'purelb', CHART, '--kube-version', KUBE_VERSION, '--set', set]);
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain("values don't meet the specifications of the schema(s)");
  expect(run.stderr).toContain(message);
});

test('helm lint passes (strict) for every routing daemon', async () => {
  for (const daemon of ['none', 'bird', 'frr', 'gobgp']) {
    const run = await helm([
      'lint',
      '--strict',
      CHART,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      `routing.daemon=${daemon}`,
    ]);
    expect(`${daemon}: ${run.code} ${run.stderr}`).toBe(`${daemon}: 0 `);
    expect(run.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  }
});
