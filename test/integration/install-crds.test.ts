// `purelb install crds` against the real apiserver: it upgrades a CRD that an older release left behind
// (installed with a plain replace, as Helm's create or kubectl would have), reports what it did, changes
// nothing with --dry-run, and a second run finds everything unchanged. It reads KUBECONFIG like kubectl.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, expect, test } from '@jest/globals';
import { ApiextensionsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { renderCRDFiles } from '../../src/api/crd-files.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kubectl } from '../harness/deploy.ts';
import { adminKubeConfig, applyCRDs } from '../harness/kube.ts';

const CRD = 'routerconfigs.purelb.io';
let admin: KubeConfig;
let kubeconfig: string;

beforeAll(async () => {
  admin = adminKubeConfig();
  kubeconfig = process.env.PURELB_TEST_KUBECONFIG!;
  await applyCRDs(admin);
});

function purelb(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '/dev/null', ...env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const printerColumns = async () =>
  (await admin.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: CRD })).spec.versions.map((v) =>
    (v.additionalPrinterColumns ?? []).map((c) => c.name),
  );

test('an older RouterConfig CRD is upgraded to the bundled one; --dry-run changes nothing; a second run is a no-op', async () => {
  const bundled = load(renderCRDFiles()['routerconfig.yaml']!) as {
    spec: { versions: Array<{ additionalPrinterColumns?: Array<{ name: string }> }> };
  };
  const want = bundled.spec.versions.map((v) => (v.additionalPrinterColumns ?? []).map((c) => c.name));
  expect(want.flat().length).toBeGreaterThan(0);
  // "the previous release": the same CRD without its printer columns, stored by a full replace
  const older = structuredClone(bundled);
  for (const v of older.spec.versions) delete v.additionalPrinterColumns;
  const replaced = await kubectl(['replace', '-f', '-'], { kubeconfig, input: JSON.stringify(older) });
  expect(replaced.stderr).toBe('');
  expect(await printerColumns()).toEqual(want.map(() => []));

  const dry = purelb(['install', 'crds', '--dry-run', '--kubeconfig', kubeconfig]);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain(`customresourcedefinition.apiextensions.k8s.io/${CRD} configured (server dry run)`);
  expect(await printerColumns()).toEqual(want.map(() => []));

  // KUBECONFIG from the environment, as kubectl and helm read it
  const real = purelb(['install', 'crds'], { KUBECONFIG: kubeconfig });
  expect(real.stderr).toBe('');
  expect(real.code).toBe(0);
  const lines = real.stdout.trim().split('\n');
  expect(lines).toContain(`customresourcedefinition.apiextensions.k8s.io/${CRD} configured`);
  for (const name of ['servicegroups.purelb.io', 'lbnodeagents.purelb.io', CRD, 'noderoutingstatuses.purelb.io'])
    expect(lines).toContain(`customresourcedefinition.apiextensions.k8s.io/${name} established`);
  expect(await printerColumns()).toEqual(want);

  const again = purelb(['install', 'crds'], { KUBECONFIG: kubeconfig });
  expect(again.code).toBe(0);
  expect(again.stdout.trim().split('\n').slice(0, 4).sort()).toEqual([
    'customresourcedefinition.apiextensions.k8s.io/lbnodeagents.purelb.io unchanged',
    'customresourcedefinition.apiextensions.k8s.io/noderoutingstatuses.purelb.io unchanged',
    'customresourcedefinition.apiextensions.k8s.io/routerconfigs.purelb.io unchanged',
    'customresourcedefinition.apiextensions.k8s.io/servicegroups.purelb.io unchanged',
  ]);
});

test('bad command lines are refused with the fix, before anything is sent', () => {
  const nothing = purelb(['install']);
  expect(nothing.code).toBe(2);
  expect(nothing.stderr).toContain('the only thing to install is "crds" (purelb install crds)');
  const context = purelb(['install', 'crds', '--context', 'nope', '--kubeconfig', kubeconfig]);
  expect(context.code).toBe(2);
  expect(context.stderr).toMatch(/--context nope: no such context in \S+kubeconfig \(contexts: /);
});
