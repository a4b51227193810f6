// Every kustomization under deploy/ renders and passes server-side dry-run on the real apiserver,
// after the CRDs were applied the documented way (kubectl apply -f crds/ + kubectl wait ... established).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kubectl, kustomizations, kustomize, objectId, type K8sObject } from '../harness/deploy.ts';

const kubeconfig = () => process.env.PURELB_TEST_KUBECONFIG!;
/** crd/<name> of every file in crds/, by its metadata.name (a plural is not always the file name + "s") */
const crdNames = () =>
  readdirSync(join(repoRoot, 'crds')).map(
    (f) =>
      `crd/${(load(readFileSync(join(repoRoot, 'crds', f), 'utf8')) as { metadata: { name: string } }).metadata.name}`,
  );
const NAMESPACE = 'deploy/purelb/base/namespace.yaml';
let createdNamespace = false;

beforeAll(async () => {
  const apply = await kubectl(['apply', '-f', 'crds/'], { kubeconfig: kubeconfig() });
  // other test files create the CRDs without kubectl; kubectl then warns once that it adds its annotation
  const warnings = apply.stderr
    .split('\n')
    .filter(
      (l) =>
        l &&
        !/^Warning: resource customresourcedefinitions\/\S+ is missing the kubectl.kubernetes.io\/last-applied-configuration annotation/.test(
          l,
        ),
    );
  expect(warnings).toEqual([]);
  expect(apply.code).toBe(0);
  const wait = await kubectl(['wait', '--for', 'condition=established', '--timeout=60s', ...crdNames()], {
    kubeconfig: kubeconfig(),
  });
  expect(wait.code).toBe(0);
  expect(wait.stdout.trim().split('\n')).toHaveLength(crdNames().length);
  // namespaced objects cannot be dry-run into a namespace that does not exist yet
  createdNamespace = (await kubectl(['get', '-f', NAMESPACE], { kubeconfig: kubeconfig() })).code !== 0;
  const ns = await kubectl(['apply', '-f', NAMESPACE], { kubeconfig: kubeconfig() });
  expect(ns.code).toBe(0);
});

afterAll(async () => {
  // (the run has no namespace controller: it stays Terminating, empty)
  if (createdNamespace)
    expect((await kubectl(['delete', '--wait=false', '-f', NAMESPACE], { kubeconfig: kubeconfig() })).code).toBe(0);
});

test('deploy/ has the default install, its base and the variants', () => {
  expect(kustomizations()).toEqual(
    expect.arrayContaining(['deploy/purelb', 'deploy/purelb/base', 'deploy/purelb/overlays/control-plane']),
  );
});

describe.each(kustomizations())('%s', (dir) => {
  test('passes kubectl apply --dry-run=server -k, every rendered object accepted', async () => {
    const rendered = await kustomize(dir);
    expect(rendered.length).toBeGreaterThan(0);
    const run = await kubectl(['apply', '--dry-run=server', '-k', dir, '-o', 'json'], { kubeconfig: kubeconfig() });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { kind: string; items?: K8sObject[] } & K8sObject;
    const accepted = out.kind === 'List' ? out.items! : [out];
    expect(accepted.map(objectId).sort()).toEqual(rendered.map(objectId).sort());
  });
});
