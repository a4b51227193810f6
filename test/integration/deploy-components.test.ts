// The components run as real processes with the tokens of their own service accounts, bound only by the
// deploy/ RBAC, through a recording proxy. A missing permission fails the scenario (403); a granted
// permission the scenario never uses fails the comparison, so the RBAC is exactly what the code calls.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api, CustomObjectsApi, KubernetesObjectApi, type KubeConfig, type V1PolicyRule,
} from '@kubernetes/client-node';
import { ANN, BRAND } from '../../src/api/annotations.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kustomizeInto, type K8sObject } from '../harness/deploy.ts';
import { adminKubeConfig, applyCRDs, freshNamespace, serviceAccountKubeConfig, waitFor } from '../harness/kube.ts';
import { startRequestRecorder, type Recorded, type RequestRecorder } from '../harness/request-recorder.ts';

const RBAC_KINDS = ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'];
const suffix = `-${Math.random().toString(36).slice(2, 8)}`;
let kc: KubeConfig;
let ns: string;
let rbac: K8sObject[] = [];
const dir = mkdtempSync(join(tmpdir(), 'purelb-deploy-components-'));
const children: ChildProcess[] = [];

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
  ns = await freshNamespace(kc, 'deploy-run');
  rbac = (await kustomizeInto('deploy/purelb/base', ns, suffix)).filter((o) => RBAC_KINDS.includes(o.kind));
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of rbac) await api.create(o);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of rbac.filter((x) => x.kind.startsWith('Cluster'))) await api.delete(o).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig file that sends the service account's token to the recording proxy. */
async function tokenKubeconfig(sa: string, recorder: RequestRecorder): Promise<string> {
  const token = (await serviceAccountKubeConfig(kc, ns, sa)).getCurrentUser()!.token!;
  const file = join(dir, `${sa}.kubeconfig`);
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': sa,
    // plain HTTP to the proxy on an address the test owns; client-node wants this flag for http://
    clusters: [{ name: 'proxy', cluster: { server: recorder.url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: sa, user: { token } }],
    contexts: [{ name: sa, context: { cluster: 'proxy', user: sa } }],
  }));
  return file;
}

function startPurelb(name: string, args: string[]): { child: ChildProcess; log: () => string } {
  const logFile = join(dir, `${name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), ...args], { stdio: ['ignore', out, out] });
  children.push(child);
  return { child, log: () => readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n') };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await once(child, 'exit');
  clearTimeout(timer);
  return child.exitCode;
}

const rule = (group: string, resource: string, verb: string) => `${verb} ${group || 'core'}/${resource}`;

/** (verb, group/resource) pairs the component's ClusterRole and Role grant. */
function granted(component: string): string[] {
  const rules = rbac.filter((o) => (o.kind === 'Role' || o.kind === 'ClusterRole') && o.metadata.name === `purelb:${component}${suffix}`)
    .flatMap((o) => (o.rules ?? []) as V1PolicyRule[]);
  return [...new Set(rules.flatMap((r) => r.apiGroups!.flatMap((g) => r.resources!.flatMap((res) => r.verbs.map((v) => rule(g, res, v))))))].sort();
}

const used = (requests: Recorded[]) =>
  [...new Set(requests.filter((r) => r.resource).map((r) => rule(r.group, r.resource, r.verb)))].sort();

const refused = (requests: Recorded[]) => requests.filter((r) => r.status === 401 || r.status === 403)
  .map((r) => `${r.status} ${r.verb} ${r.path}`);

describe('allocator with its own service account', () => {
  test('assigns an address, writes ServiceGroup status and events, renews and releases its Lease; RBAC = calls', async () => {
    const recorder = await startRequestRecorder(kc);
    try {
      const custom = kc.makeApiClient(CustomObjectsApi);
      const core = kc.makeApiClient(CoreV1Api);
      await custom.createNamespacedCustomObject({
        group: 'purelb.io', version: 'v1', namespace: ns, plural: 'servicegroups',
        body: { apiVersion: 'purelb.io/v1', kind: 'ServiceGroup', metadata: { name: 'deploy-test' },
          spec: { local: { v4pools: [{ subnet: '10.250.0.0/24', pool: '10.250.0.10-10.250.0.20', aggregation: '/32' }] } } },
      });
      const kubeconfig = await tokenKubeconfig(`allocator${suffix}`, recorder);
      const { child, log } = startPurelb('allocator', ['allocator', '--kubeconfig', kubeconfig, '--namespace', ns,
        '--service-namespace', ns, '--health-host', '127.0.0.1', '--health-port', '0',
        '--lease-duration', '4', '--renew-deadline', '3', '--retry-period', '1']);
      try {
        await core.createNamespacedService({ namespace: ns, body: {
          metadata: { name: 'web', annotations: { [ANN.serviceGroup]: 'deploy-test' } },
          spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
        } });
        const svc = await waitFor('the allocator to assign 10.250.0.10', async () => {
          const s = await core.readNamespacedService({ name: 'web', namespace: ns });
          return s.status?.loadBalancer?.ingress?.[0]?.ip === '10.250.0.10' && s;
        }, 30_000).catch((err: unknown) => { throw new Error(`${String(err)}\nallocator log:\n${log()}`); });
        expect(svc.metadata?.annotations).toMatchObject({ [ANN.allocatedBy]: BRAND, [ANN.allocatedFrom]: 'deploy-test' });
        await waitFor('ServiceGroup status allocatedIPv4 = 1', async () => {
          const sg = await custom.getNamespacedCustomObject({ group: 'purelb.io', version: 'v1', namespace: ns, plural: 'servicegroups', name: 'deploy-test' }) as { status?: { allocatedIPv4?: number } };
          return sg.status?.allocatedIPv4 === 1;
        });
        await waitFor('an AddressAssigned event and a Lease renewal', async () =>
          recorder.requests.some((r) => r.resource === 'events' && r.status === 201) &&
          recorder.requests.some((r) => r.resource === 'leases' && r.verb === 'update' && r.status === 200), 15_000);
      } finally {
        const code = await stop(child);
        expect(`exit ${code}\n${code === 0 ? '' : log()}`).toBe('exit 0\n');
      }
      expect(refused(recorder.requests)).toEqual([]);
      expect(used(recorder.requests)).toEqual(granted('allocator'));
    } finally {
      await recorder.close();
    }
  });
});
