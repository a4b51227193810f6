// The routing sidecar overlays (deploy/purelb/overlays/frr and /gobgp), run as the pod would run them,
// in a node network namespace of this test. The sidecar's command (from the rendered overlay, verbatim)
// runs in a private mount namespace: /run is a fresh tmpfs there and every emptyDir of the pod is a
// fresh tmpfs at its mount path. The agent then runs in the same mount and network namespace the way
// the DaemonSet runs it: uid 0 with ONLY the capabilities of the manifest (no DAC_OVERRIDE), the pod's
// supplementary groups, its own arguments. A RouterConfig for that daemon must be applied (status
// Applied) and be visible in the daemon itself.
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kustomize } from '../harness/deploy.ts';
import { adminKubeConfig, applyCRDs, freshNamespace, waitFor } from '../harness/kube.ts';
import { createLan, LAN_V4, type Lan } from './agent-lan.ts';

interface Container { name: string; command?: string[]; args?: string[]; volumeMounts?: Array<{ name: string; mountPath: string }>;
  securityContext?: { capabilities?: { add?: string[]; drop?: string[] } } }
interface PodSpec { containers: Container[]; volumes: Array<{ name: string; emptyDir?: unknown; configMap?: { name: string } }>;
  securityContext?: { supplementalGroups?: number[] } }

let kc: KubeConfig;
let run: { lan: Lan; dir: string; procs: ChildProcess[] } | undefined;

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
});

afterEach(async () => {
  if (!run) return;
  const { lan, dir, procs } = run;
  run = undefined;
  for (const p of procs.reverse()) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  // everything left in the node namespace (e.g. FRR's daemons) was started by this test; the relay goes with lan.destroy()
  const netns = lan.nodes[0]!.netns;
  for (const pid of spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)) {
    if (pid !== lan.nodes[0]!.relay?.pid) process.kill(pid, 'SIGTERM');
  }
  await new Promise((r) => setTimeout(r, 500));
  await lan.destroy();
  await kc.makeApiClient(CoreV1Api).deleteNode({ name: 'node-1' }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** setpriv arguments that give a process exactly what a container's securityContext grants. */
function privileges(c: Container, groups: number[]): string[] {
  const caps = c.securityContext?.capabilities;
  if (!caps?.drop?.includes('ALL')) return [];
  return ['setpriv', ...(groups.length ? [`--groups=${groups.join(',')}`] : ['--clear-groups']), '--inh-caps=-all',
    `--bounding-set=-all${(caps.add ?? []).map((a) => `,+${a.toLowerCase()}`).join('')}`];
}

const cases = [
  {
    daemon: 'frr',
    /** What the daemon itself says it runs, asked from inside the pod with the agent's privileges. */
    check: (inPod: (cmd: string[]) => string) => expect(inPod(['vtysh', '-c', 'show running-config']))
      .toMatch(new RegExp(`router bgp 65001[\\s\\S]*neighbor ${LAN_V4}.254 remote-as 65000`)),
  },
  {
    daemon: 'gobgp',
    check: (inPod: (cmd: string[]) => string, agent: Container) => {
      const socket = agent.args!.find((a) => a.startsWith('--gobgp-socket='))!.split('=')[1]!;
      expect(inPod(['gobgp', '--target', `unix://${socket}`, 'global'])).toMatch(/AS:\s+65001/);
      expect(inPod(['gobgp', '--target', `unix://${socket}`, 'neighbor'])).toContain(`${LAN_V4}.254`);
    },
  },
];

describe.each(cases)('overlays/$daemon', ({ daemon, check }) => {
  test('sidecar as rendered; the agent with only its manifest privileges applies a RouterConfig for it', async () => {
    const ns = await freshNamespace(kc, `deploy-${daemon}`);
    const objs = await kustomize(`deploy/purelb/overlays/${daemon}`);
    const spec = (objs.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'lbnodeagent')!.spec as { template: { spec: PodSpec } }).template.spec;
    const agentC = spec.containers.find((c) => c.name === 'lbnodeagent')!;
    const sideC = spec.containers.find((c) => c.name !== 'lbnodeagent')!;
    const dir = mkdtempSync(join(tmpdir(), `purelb-${daemon}-sidecar-`));
    const lan = await createLan(1, Number(new URL(kc.getCurrentCluster()!.server).port));
    run = { lan, dir, procs: [] };
    const node = lan.nodes[0]!;

    // ConfigMap volumes become files in dir; the sidecar's command refers to them there
    let command = [...(sideC.command ?? []), ...(sideC.args ?? [])];
    for (const m of sideC.volumeMounts ?? []) {
      const cm = spec.volumes.find((v) => v.name === m.name)?.configMap;
      if (!cm) continue;
      const data = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === cm.name)!.data as Record<string, string>;
      for (const [file, text] of Object.entries(data)) writeFileSync(join(dir, file), text);
      command = command.map((a) => a.replaceAll(`${m.mountPath}/`, `${dir}/`));
    }
    const emptyDirs = [...new Set(spec.containers.flatMap((c) => (c.volumeMounts ?? [])
      .filter((m) => spec.volumes.find((v) => v.name === m.name)?.emptyDir !== undefined && m.mountPath !== '/tmp').map((m) => m.mountPath)))];
    const mounts = ['mount -t tmpfs none /run', ...emptyDirs.map((p) => `mkdir -p ${p} && mount -t tmpfs none ${p}`)].join(' && ');
    const groups = spec.securityContext?.supplementalGroups?.length
      ? [Number(execFileSync('getent', ['group', 'frrvty'], { encoding: 'utf8' }).split(':')[2])] // the image's frrvty is the host's here
      : [];
    writeFileSync(join(dir, 'sidecar.json'), JSON.stringify(command));
    const log = (name: string) => openSync(join(dir, `${name}.log`), 'a');
    const sidecar = spawn('ip', ['netns', 'exec', node.netns, 'unshare', '--mount', '--propagation', 'private', 'bash', '-c',
      `${mounts} && exec "$@"`, 'pod', ...privileges(sideC, groups), ...command], { stdio: ['ignore', log('sidecar'), log('sidecar')] });
    run.procs.push(sidecar);
    const enter = (cmd: string[]) => ['nsenter', `--mount=/proc/${sidecar.pid}/ns/mnt`, `--net=/var/run/netns/${node.netns}`, ...privileges(agentC, groups), ...cmd];
    const inPod = (cmd: string[]) => {
      const [exe, ...args] = enter(cmd);
      return spawnSync(exe!, args, { encoding: 'utf8' }).stdout;
    };

    await kc.makeApiClient(CoreV1Api).createNode({ body: { metadata: { name: node.name, labels: { 'purelb-sidecar-test': ns } } } });
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ group: 'purelb.io', version: 'v1', namespace: ns, plural: 'routerconfigs', body: {
      apiVersion: 'purelb.io/v1', kind: 'RouterConfig', metadata: { name: 'tor' },
      spec: { nodeSelector: { 'purelb-sidecar-test': ns }, daemon, protocol: 'bgp',
        bgp: { localASN: 65001, peers: [{ address: `${LAN_V4}.254`, asn: 65000, holdTime: 9, keepaliveTime: 3 }] } },
    } });
    // the agent's own arguments from the manifest, with the test's kubeconfig, node and state file
    const manifestArgs = agentC.args!.slice(1).filter((a, i, all) => a !== '--health-port' && all[i - 1] !== '--health-port');
    const [exe, ...args] = enter([process.execPath, join(repoRoot, 'bin', 'purelb.js'), 'agent', ...manifestArgs,
      '--kubeconfig', process.env.PURELB_TEST_KUBECONFIG!, '--namespace', ns, '--node-name', node.name, '--node-ip', node.ipv4,
      '--kube-lb-kind', 'ifb', '--state-file', join(dir, 'state.json'), '--health-port', '0']);
    run.procs.push(spawn(exe!, args, { stdio: ['ignore', log('agent'), log('agent')] }));

    const tail = (name: string) => readFileSync(join(dir, `${name}.log`), 'utf8').split('\n').slice(-25).join('\n');
    await waitFor(`RouterConfig applied by ${daemon} on ${node.name}`, async () => {
      const rc = await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'purelb.io', version: 'v1', namespace: ns, plural: 'routerconfigs', name: 'tor' }) as
        { status?: { nodes?: Record<string, { lastReload?: { result?: string } }> } };
      return rc.status?.nodes?.[node.name]?.lastReload?.result === 'Applied';
    }, 90_000).catch((err: Error) => { throw new Error(`${err.message}\n--- agent\n${tail('agent')}\n--- sidecar\n${tail('sidecar')}`); });
    check(inPod, agentC);
  }, 120_000);
});
