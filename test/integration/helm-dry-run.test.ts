// The chart against the real kube-apiserver: every object `helm template` renders for each routing daemon,
// with a ServiceGroup and a RouterConfig from values, goes through the apiserver's validation (CRD schemas
// and CEL rules included) with `kubectl apply --dry-run=server`. (Helm's own --dry-run=server only lets
// templates look objects up; it sends none for validation.) `helm install` refuses monitoring objects
// when the prometheus-operator CRDs are missing, naming the kind.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { adminKubeConfig, applyCRDs, freshNamespace, cleanUpNamespaces } from '../harness/kube.ts';
import { kubectl, objectId, type K8sObject } from '../harness/deploy.ts';
import { CHART, KUBE_VERSION, helm } from '../harness/helm.ts';

let ns: string;
const dir = mkdtempSync(join(tmpdir(), 'purelb-helm-dry-'));
const kubeconfig = () => process.env.PURELB_TEST_KUBECONFIG!;

beforeAll(async () => {
  const admin = adminKubeConfig();
  await applyCRDs(admin);
  ns = await freshNamespace(admin, 'helm');
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await cleanUpNamespaces();
});

const values = {
  serviceGroups: [
    {
      name: 'lan',
      spec: {
        local: { v4pools: [{ subnet: '192.168.1.0/24', pool: '192.168.1.240-192.168.1.250', aggregation: 'default' }] },
      },
    },
  ],
  routerConfigs: [
    {
      name: 'tor',
      spec: {
        daemon: 'bird',
        protocol: 'bgp',
        bgp: { localASN: 64512, peers: [{ address: '192.168.1.1', asn: 64500 }] },
      },
    },
  ],
};

/** helm template into the test namespace, then kubectl apply --dry-run=server of its output. */
async function serverDryRun(valuesFile: string, set: string[] = []) {
  const rendered = await helm([
    'template',
    'purelb',
    CHART,
    '--namespace',
    ns,
    '--kube-version',
    KUBE_VERSION,
    '-f',
    valuesFile,
    ...set,
  ]);
  expect(`${rendered.code} ${rendered.stderr}`).toBe('0 ');
  const applied = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-', '-o', 'json'], {
    kubeconfig: kubeconfig(),
    input: rendered.stdout,
  });
  return { rendered: rendered.stdout, applied };
}

test.each(['none', 'bird', 'frr', 'gobgp'])(
  'routing.daemon=%s: the apiserver accepts every object the chart renders',
  async (daemon) => {
    const file = join(dir, `${daemon}.json`);
    writeFileSync(file, JSON.stringify(values));
    const { rendered, applied } = await serverDryRun(file, ['--set', `routing.daemon=${daemon}`]);
    expect(`${applied.code} ${applied.stderr}`).toBe('0 ');
    const out = JSON.parse(applied.stdout) as { kind: string; items?: K8sObject[] } & K8sObject;
    const accepted = (out.kind === 'List' ? out.items! : [out]).map(objectId).sort();
    expect(accepted).toEqual(
      expect.arrayContaining([
        `DaemonSet/${ns}/lbnodeagent`,
        `Deployment/${ns}/allocator`,
        `LBNodeAgent/${ns}/default`,
        `RouterConfig/${ns}/tor`,
        `ServiceGroup/${ns}/lan`,
        ...(daemon === 'none' ? [] : [`DaemonSet/${ns}/purelb-${daemon}`]),
      ]),
    );
    expect(accepted).toHaveLength(rendered.split(/^---$/m).filter((d) => /^kind: /m.test(d)).length);
  },
);

test('a ServiceGroup from values that the CRD refuses is refused by the apiserver, naming the field', async () => {
  const file = join(dir, 'bad.json');
  writeFileSync(
    file,
    JSON.stringify({
      serviceGroups: [
        { name: 'bad', spec: { local: { v4pools: [{ subnet: 'not-a-cidr', pool: '10.0.0.1-10.0.0.2' }] } } },
      ],
    }),
  );
  const { applied } = await serverDryRun(file);
  expect(applied.code).not.toBe(0);
  expect(applied.stderr).toContain('ServiceGroup');
  expect(applied.stderr).toContain('spec.local.v4pools[0]: Invalid value: subnet must be a CIDR');
});

test('monitoring objects need the prometheus-operator CRDs: without them the install is refused, naming the kind', async () => {
  const run = await helm(
    ['install', 'purelb', CHART, '--namespace', ns, '--dry-run=server', '--set', 'monitoring.rules.enabled=true'],
    { kubeconfig: kubeconfig() },
  );
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain('no matches for kind "PrometheusRule"');
});
