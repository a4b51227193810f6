// deploy/purelb/overlays/frr, run as the pod would run it, in a node network namespace of this test:
// the `frr` container's script (from the rendered overlay, verbatim) starts FRR's daemons in a private
// mount namespace where /etc/frr and /var/run/frr are fresh tmpfs mounts (the pod's shared emptyDirs).
// The agent then runs in the same mount and network namespace the way the DaemonSet runs it: uid 0 with
// ONLY the capabilities of the manifest (no DAC_OVERRIDE), the supplementary group of the pod, and the
// agent container's other emptyDir mounts. A RouterConfig with daemon frr must be applied (vtysh
// --dryrun, frr-reload.py over the vty sockets) and show up in FRR's running config.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kustomize, type K8sObject } from '../harness/deploy.ts';
import { adminKubeConfig, applyCRDs, freshNamespace, waitFor } from '../harness/kube.ts';
import { createLan, LAN_V4, type Lan } from './agent-lan.ts';

interface Container { name: string; args?: string[]; volumeMounts?: Array<{ name: string; mountPath: string }>;
  securityContext?: { capabilities?: { add?: string[] } } }
interface PodSpec { containers: Container[]; volumes: Array<{ name: string; emptyDir?: unknown; configMap?: { name: string } }>;
  securityContext?: { supplementalGroups?: number[] } }

let kc: KubeConfig;
let ns: string;
let lan: Lan | undefined;
let sidecar: ChildProcess | undefined;
let agent: ChildProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'purelb-frr-sidecar-'));

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
  ns = await freshNamespace(kc, 'deploy-frr');
});

afterAll(async () => {
  agent?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  // everything else in the node namespace (the sidecar's FRR daemons) was started by this test
  if (lan) {
    const netns = lan.nodes[0]!.netns;
    for (const pid of spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
      const relay = lan.nodes[0]!.relay?.pid;
      if (Number(pid) !== relay) process.kill(Number(pid), 'SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 500));
    await lan.destroy();
  }
  await kc.makeApiClient(CoreV1Api).deleteNode({ name: 'node-1' }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('the frr sidecar script starts FRR; the agent, with only the manifest\'s capabilities and group, applies a RouterConfig', async () => {
  const objs = await kustomize('deploy/purelb/overlays/frr');
  const spec = (objs.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'lbnodeagent')!.spec as { template: { spec: PodSpec } }).template.spec;
  const [agentC, frrC] = [spec.containers.find((c) => c.name === 'lbnodeagent')!, spec.containers.find((c) => c.name === 'frr')!];
  const daemonsMap = objs.find((o: K8sObject) => o.kind === 'ConfigMap')!.data as Record<string, string>;
  writeFileSync(join(dir, 'daemons'), daemonsMap.daemons!);
  const configMount = frrC.volumeMounts!.find((m) => spec.volumes.find((v) => v.name === m.name)?.configMap)!.mountPath;
  const script = frrC.args![0]!.replaceAll(`${configMount}/`, `${dir}/`);
  const emptyDir = (c: Container) => c.volumeMounts!.filter((m) => spec.volumes.find((v) => v.name === m.name)?.emptyDir !== undefined);
  const shared = emptyDir(frrC).map((m) => m.mountPath);
  const agentOnly = emptyDir(agentC).map((m) => m.mountPath).filter((p) => !shared.includes(p) && p !== '/tmp');
  expect(shared.sort()).toEqual(['/etc/frr', '/var/run/frr']);

  // the Node (for the RouterConfig's selector), the LAN with a relay to the apiserver, the RouterConfig
  await kc.makeApiClient(CoreV1Api).createNode({ body: { metadata: { name: 'node-1', labels: { 'purelb-frr-test': ns } } } });
  lan = await createLan(1, Number(new URL(kc.getCurrentCluster()!.server).port));
  const node = lan.nodes[0]!;
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ group: 'purelb.io', version: 'v1', namespace: ns, plural: 'routerconfigs', body: {
    apiVersion: 'purelb.io/v1', kind: 'RouterConfig', metadata: { name: 'tor' },
    spec: { nodeSelector: { 'purelb-frr-test': ns }, daemon: 'frr', protocol: 'bgp',
      bgp: { localASN: 65001, peers: [{ address: `${LAN_V4}.254`, asn: 65000, holdTime: 9, keepaliveTime: 3 }] } },
  } });

  // the sidecar: its mount namespace holds the pod's shared emptyDirs; its pid stays the mount holder
  const mounts = shared.map((p) => `mount -t tmpfs none ${p}`).join(' && ');
  writeFileSync(join(dir, 'frr.sh'), script);
  sidecar = spawn('ip', ['netns', 'exec', node.netns, 'unshare', '--mount', '--propagation', 'private', 'bash', '-c',
    `${mounts} && exec bash -e ${join(dir, 'frr.sh')}`], { stdio: ['ignore', openSync(join(dir, 'frr.log'), 'a'), openSync(join(dir, 'frr.log'), 'a')] });
  const inPod = (cmd: string[], groups: number[]) => ['--mount=/proc/' + sidecar!.pid + '/ns/mnt', `--net=/var/run/netns/${node.netns}`,
    'setpriv', ...(groups.length ? [`--groups=${groups.join(',')}`] : ['--clear-groups']), '--inh-caps=-all',
    `--bounding-set=-all,${agentC.securityContext!.capabilities!.add!.map((c) => `+${c.toLowerCase()}`).join(',')}`, ...cmd];
  // the image's frrvty gid is the pod's supplementalGroups (checked by a unit test); here the host's
  const frrvty = Number(execFileSync('getent', ['group', 'frrvty'], { encoding: 'utf8' }).split(':')[2]);
  expect(spec.securityContext?.supplementalGroups).toHaveLength(1);
  const vtysh = (command: string) => spawnSync('nsenter', inPod(['vtysh', '-c', command], [frrvty]), { encoding: 'utf8' });
  await waitFor('bgpd answering on its vty socket', async () => {
    const r = vtysh('show bgp summary');
    return r.status === 0 && !r.stdout.includes('not running');
  }, 20_000)
    .catch((err: Error) => { throw new Error(`${err.message}\nfrr container log:\n${readFileSync(join(dir, 'frr.log'), 'utf8')}`); });
  for (const p of agentOnly) execFileSync('nsenter', [`--mount=/proc/${sidecar.pid}/ns/mnt`, 'mount', '-t', 'tmpfs', 'none', p]);

  agent = spawn('nsenter', inPod([process.execPath, join(repoRoot, 'bin', 'purelb.js'), 'agent', '--kubeconfig', process.env.PURELB_TEST_KUBECONFIG!,
    '--namespace', ns, '--node-name', node.name, '--node-ip', node.ipv4, '--kube-lb-kind', 'ifb', '--state-file', join(dir, 'state.json'),
    '--health-port', '0', ...agentC.args!.slice(1).filter((a) => !a.startsWith('--health-port') && a !== '7473')], [frrvty]),
  { stdio: ['ignore', openSync(join(dir, 'agent.log'), 'a'), openSync(join(dir, 'agent.log'), 'a')] });

  await waitFor('RouterConfig applied by FRR on node-1', async () => {
    const rc = await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'purelb.io', version: 'v1', namespace: ns, plural: 'routerconfigs', name: 'tor' }) as
      { status?: { nodes?: Record<string, { lastReload?: { result?: string; error?: string } }> } };
    const reload = rc.status?.nodes?.['node-1']?.lastReload;
    if (reload?.result === 'Failed' || reload?.result === 'Rejected') throw new Error(`${reload.result}: ${reload.error}`);
    return reload?.result === 'Applied';
  }, 60_000).catch((err: Error) => { throw new Error(`${err.message}\nagent log:\n${readFileSync(join(dir, 'agent.log'), 'utf8').split('\n').slice(-25).join('\n')}`); });
  const running = vtysh('show running-config').stdout;
  expect(running).toContain('router bgp 65001');
  expect(running).toContain(`neighbor ${LAN_V4}.254 remote-as 65000`);
  // without the pod's group the same process cannot reach the daemons: the group is what makes it work
  expect(spawnSync('nsenter', inPod(['vtysh', '-c', 'show running-config'], []), { encoding: 'utf8' }).stdout).not.toContain('router bgp 65001');
}, 120_000);
