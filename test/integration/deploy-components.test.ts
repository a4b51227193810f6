// The components run as real processes with the tokens of their own service accounts, bound only by the
// deploy/ RBAC, through a recording proxy. A missing permission fails the scenario (403); a granted
// permission the scenario never uses fails the comparison, so the RBAC is exactly what the code calls.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { errorText } from '../../src/log.ts';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { ANN, BRAND } from '../../src/api/annotations.ts';
import { patchServiceAnnotations } from '../../src/k8s/patch.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { installBaseRbac, type InstalledRbac } from '../harness/deploy.ts';
import {
  adminKubeConfig,
  applyCRDs,
  cleanUpNamespaces,
  freshNamespace,
  kubeClient,
  nodeRoutingStatus,
  serviceAccountKubeConfig,
  waitFor,
} from '../harness/kube.ts';
import { startRequestRecorder, type Recorded, type RequestRecorder } from '../harness/request-recorder.ts';
import { agentLogTail, createLan, LAN_V4, type Lan } from './agent-lan.ts';

const suffix = `-${Math.random().toString(36).slice(2, 8)}`;
let kc: KubeConfig;
let ns: string;
let rbac: InstalledRbac | undefined;
const dir = mkdtempSync(join(tmpdir(), 'purelb-deploy-components-'));
const children: ChildProcess[] = [];

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
  ns = await freshNamespace(kc, 'deploy-run');
  rbac = await installBaseRbac(kc, ns, suffix);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rbac?.remove();
  await cleanUpNamespaces();
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig file that sends the service account's token to the recording proxy. */
async function tokenKubeconfig(sa: string, recorder: RequestRecorder): Promise<string> {
  const token = (await serviceAccountKubeConfig(kc, ns, sa)).getCurrentUser()!.token!;
  const file = join(dir, `${sa}.kubeconfig`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': sa,
      // plain HTTP to the proxy on an address the test owns; client-node wants this flag for http://
      clusters: [{ name: 'proxy', cluster: { server: recorder.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: sa, user: { token } }],
      contexts: [{ name: sa, context: { cluster: 'proxy', user: sa } }],
    }),
  );
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
  const { cluster, namespaced } = rbac!.rules(component);
  const rules = [...cluster, ...namespaced];
  return [
    ...new Set(
      rules.flatMap((r) =>
        r.apiGroups!.flatMap((g) => r.resources!.flatMap((res) => r.verbs.map((v) => rule(g, res, v)))),
      ),
    ),
  ].sort();
}

const used = (requests: Recorded[]) =>
  [...new Set(requests.filter((r) => r.resource).map((r) => rule(r.group, r.resource, r.verb)))].sort();

const refused = (requests: Recorded[]) =>
  requests.filter((r) => r.status === 401 || r.status === 403).map((r) => `${r.status} ${r.verb} ${r.path}`);

describe('allocator with its own service account', () => {
  test('assigns an address, writes ServiceGroup status and events, renews and releases its Lease; RBAC = calls', async () => {
    const recorder = await startRequestRecorder(kc);
    try {
      const custom = kc.makeApiClient(CustomObjectsApi);
      const core = kc.makeApiClient(CoreV1Api);
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: 'servicegroups',
        body: {
          apiVersion: 'purelb.io/v1',
          kind: 'ServiceGroup',
          metadata: { name: 'deploy-test' },
          spec: {
            local: { v4pools: [{ subnet: '10.250.0.0/24', pool: '10.250.0.10-10.250.0.20', aggregation: '/32' }] },
            // a namespace selector makes the allocator use its namespaces permission (a metadata-only watch)
            serviceAllocation: { namespaceSelectors: [{ matchLabels: { 'kubernetes.io/metadata.name': ns } }] },
          },
        },
      });
      const kubeconfig = await tokenKubeconfig(`allocator${suffix}`, recorder);
      const { child, log } = startPurelb('allocator', [
        'allocator',
        '--kubeconfig',
        kubeconfig,
        '--namespace',
        ns,
        '--service-namespace',
        ns,
        '--health-host',
        '127.0.0.1',
        '--health-port',
        '0',
        '--lease-duration',
        '4',
        '--renew-deadline',
        '3',
        '--retry-period',
        '1',
      ]);
      try {
        await core.createNamespacedService({
          namespace: ns,
          body: {
            metadata: { name: 'web', annotations: { [ANN.serviceGroup]: 'deploy-test' } },
            spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
          },
        });
        const svc = await waitFor(
          'the allocator to assign 10.250.0.10',
          async () => {
            const s = await core.readNamespacedService({ name: 'web', namespace: ns });
            return s.status?.loadBalancer?.ingress?.[0]?.ip === '10.250.0.10' && s;
          },
          30_000,
        ).catch((err: unknown) => {
          throw new Error(`${errorText(err)}\nallocator log:\n${log()}`);
        });
        expect(svc.metadata?.annotations).toMatchObject({
          [ANN.allocatedBy]: BRAND,
          [ANN.allocatedFrom]: 'deploy-test',
        });
        // someone removes an annotation the allocator owns: it is restored with a patch of the Service itself
        await patchServiceAnnotations(kubeClient(kc), ns, 'web', { [ANN.allocatedFrom]: null });
        await waitFor(
          'allocated-from restored',
          async () =>
            (await core.readNamespacedService({ name: 'web', namespace: ns })).metadata?.annotations?.[
              ANN.allocatedFrom
            ] === 'deploy-test',
        );
        await waitFor('ServiceGroup status allocatedIPv4 = 1', async () => {
          const sg = (await custom.getNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace: ns,
            plural: 'servicegroups',
            name: 'deploy-test',
          })) as { status?: { allocatedIPv4?: number } };
          return sg.status?.allocatedIPv4 === 1;
        });
        await waitFor(
          'an AddressAssigned event and a Lease renewal',
          async () =>
            recorder.requests.some((r) => r.resource === 'events' && r.status === 201) &&
            recorder.requests.some((r) => r.resource === 'leases' && r.verb === 'update' && r.status === 200),
          15_000,
        );
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

describe('allocator and node agent together, each with its own service account', () => {
  let lan: Lan | undefined;
  let birdPidFile = '';
  afterAll(async () => {
    try {
      const pid = Number(readFileSync(birdPidFile, 'utf8').trim());
      if (pid > 0) process.kill(pid, 'SIGTERM');
    } catch {
      /* BIRD never started */
    }
    await lan?.destroy();
  });

  test('allocator assigns, the agent (in a node namespace, driving BIRD) announces, heartbeats and hands over; RBAC = calls', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const sa = (name: string) => `${name}${suffix}`;
    const agentRecorder = await startRequestRecorder(kc);
    const allocRecorder = await startRequestRecorder(kc);
    try {
      const cr = (plural: string, body: Record<string, unknown>) =>
        custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural,
          body: { apiVersion: 'purelb.io/v1', ...body },
        });
      await cr('lbnodeagents', {
        kind: 'LBNodeAgent',
        metadata: { name: 'default' },
        spec: { local: { localint: 'default', extlbint: 'kube-lb0', sendgarp: true } },
      });
      await cr('servicegroups', {
        kind: 'ServiceGroup',
        metadata: { name: 'lan' },
        spec: {
          local: {
            v4pools: [{ subnet: `${LAN_V4}.0/24`, pool: `${LAN_V4}.100-${LAN_V4}.110`, aggregation: 'default' }],
          },
        },
      });
      // the routing side: a RouterConfig for the node's labels, with a BGP password from a Secret
      await core.createNode({
        body: { metadata: { name: 'node-1', labels: { 'purelb-deploy-test': suffix.slice(1) } } },
      });
      await core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'tor-password' }, stringData: { password: 's3cret' } },
      });
      await cr('routerconfigs', {
        kind: 'RouterConfig',
        metadata: { name: 'tor' },
        spec: {
          nodeSelector: { 'purelb-deploy-test': suffix.slice(1) },
          daemon: 'bird',
          protocol: 'bgp',
          bgp: {
            localASN: 65001,
            peers: [
              { address: `${LAN_V4}.254`, asn: 65000, passwordSecretRef: { name: 'tor-password', key: 'password' } },
            ],
          },
        },
      });

      lan = await createLan(1, Number(new URL(agentRecorder.url).port));
      const node = lan.nodes[0]!;
      birdPidFile = join(dir, 'bird.pid');
      writeFileSync(join(dir, 'bird.conf'), `router id ${node.ipv4};\nprotocol device { }\n`);
      execFileSync('ip', [
        'netns',
        'exec',
        node.netns,
        'bird',
        '-c',
        join(dir, 'bird.conf'),
        '-s',
        join(dir, 'bird.ctl'),
        '-P',
        birdPidFile,
      ]);

      const allocator = startPurelb('allocator-2', [
        'allocator',
        '--kubeconfig',
        await tokenKubeconfig(sa('allocator'), allocRecorder),
        '--namespace',
        ns,
        '--service-namespace',
        ns,
        '--health-host',
        '127.0.0.1',
        '--health-port',
        '0',
      ]);
      const agent = await lan.startAgent(node, [
        '--kubeconfig',
        await tokenKubeconfig(sa('lbnodeagent'), agentRecorder),
        '--namespace',
        ns,
        '--heartbeat-renew',
        '500ms',
        '--heartbeat-duration',
        '2s',
        '--bird-config-dir',
        dir,
        '--bird-socket',
        join(dir, 'bird.ctl'),
        // SIGTERM hands over at once (no restart grace): the scenario covers the withdrawal and the Lease delete
        '--restart-grace=0s',
      ]);
      children.push(agent);
      const agentLog = () => `agent log:\n${agentLogTail(node, 40)}`;
      try {
        await core.createNamespacedService({
          namespace: ns,
          body: {
            metadata: { name: 'lan-web', annotations: { [ANN.serviceGroup]: 'lan' } },
            spec: { type: 'LoadBalancer', ports: [{ port: 443, protocol: 'TCP' }] },
          },
        });
        const ip = `${LAN_V4}.100`;
        await waitFor(
          `${ip} on eth0 of the node and the announcing annotation`,
          async () => {
            const s = await core.readNamespacedService({ name: 'lan-web', namespace: ns });
            return (
              s.status?.loadBalancer?.ingress?.[0]?.ip === ip &&
              s.metadata?.annotations?.[ANN.announcingIPv4] === 'node-1,eth0' &&
              lan!.addresses(node, 'eth0').some((a) => a.ip === ip)
            );
          },
          30_000,
        ).catch((err: unknown) => {
          throw new Error(`${errorText(err)}\n${agentLog()}\nallocator log:\n${allocator.log()}`);
        });
        await waitFor("the heartbeat Lease with this node's subnet, renewed", async () => {
          const lease = await kc
            .makeApiClient(CoordinationV1Api)
            .readNamespacedLease({ name: 'purelb-node-node-1', namespace: ns });
          return (
            lease.metadata?.annotations?.['purelb.io/subnets']?.includes(`${LAN_V4}.0/24`) &&
            agentRecorder.requests.filter((r) => r.resource === 'leases' && r.verb === 'patch' && r.status === 200)
              .length >= 2
          );
        });
        await waitFor(
          "BIRD configured from the RouterConfig, and this node's routing status",
          async () => {
            const status = (await nodeRoutingStatus(kc, ns, 'node-1'))?.status;
            return (
              status?.routerConfig === 'tor' &&
              status.lastReload?.result === 'Applied' &&
              readFileSync(join(dir, 'bird.conf'), 'utf8').includes('password')
            );
          },
          20_000,
        ).catch((err: unknown) => {
          throw new Error(`${errorText(err)}\n${agentLog()}`);
        });
        await waitFor('an AnnouncingLocal event', async () =>
          agentRecorder.requests.some((r) => r.resource === 'events' && r.status === 201),
        );
        // no RouterConfig selects the node any more: its routing status object goes
        await custom.deleteNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: 'routerconfigs',
          name: 'tor',
        });
        await waitFor('the NodeRoutingStatus deleted', async () => !(await nodeRoutingStatus(kc, ns, 'node-1')));
      } finally {
        const code = await lan.stopAgent(node, 'SIGTERM').then(() => agent.exitCode);
        expect(`agent exit ${code}\n${code === 0 ? '' : agentLog()}`).toBe('agent exit 0\n');
        expect(await stop(allocator.child)).toBe(0);
      }
      // SIGTERM: the address is withdrawn and the heartbeat Lease deleted
      expect(lan.addresses(node, 'eth0').map((a) => a.ip)).not.toContain(`${LAN_V4}.100`);
      await expect(
        kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'purelb-node-node-1', namespace: ns }),
      ).rejects.toMatchObject({ code: 404 });
      expect(refused(agentRecorder.requests)).toEqual([]);
      expect(refused(allocRecorder.requests)).toEqual([]);
      expect(used(agentRecorder.requests)).toEqual(granted('lbnodeagent'));
    } finally {
      await core.deleteNode({ name: 'node-1' }).catch(() => undefined);
      await agentRecorder.close();
      await allocRecorder.close();
    }
  }, 120_000);
});
