// The routing daemon DaemonSets (deploy/frr, deploy/gobgp, included by deploy/purelb/overlays/{frr,gobgp})
// run as their pods would run them, next to the agent's pod, in a node network namespace of this test.
// Each pod gets a private mount namespace: /run and /var/tmp are empty (as in the image), every hostPath
// volume is a bind mount of a directory under this test's "host" directory (so the two pods share
// exactly what the manifests make them share, and nothing else), every emptyDir a fresh tmpfs, and the
// root filesystem is read-only when the manifest says so. Each container runs with uid 0 and only the
// capabilities its manifest grants (the container runtime's default set unless it drops ALL), no new
// privileges when allowPrivilegeEscalation is false, and the pod's supplementary groups.
// Checked: the daemon pod becomes ready (its own readiness probe), the agent applies a RouterConfig to
// it; a new agent pod (rolling update) finds the daemon running, still configured and never restarted;
// a restarted daemon pod comes back (FRR from the frr.conf the agent left on the hostPath, gobgpd after a
// SIGKILL that left its socket behind, re-applied by the agent's watchdog).
import { GROUP, VERSION } from '../../src/api/names.ts';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { DEFAULT_BACKEND_PATHS } from '../../src/routing/controller.ts';
import { kustomize, type K8sObject } from '../harness/deploy.ts';
import {
  adminKubeConfig,
  applyCRDs,
  cleanUpNamespaces,
  freshNamespace,
  nodeRoutingStatus,
  waitFor,
} from '../harness/kube.ts';
import { createLan, LAN_V4, type Lan, type LanNode } from './agent-lan.ts';

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  readinessProbe?: { exec?: { command: string[] } };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
}
interface PodSpec {
  containers: Container[];
  volumes: Array<{ name: string; emptyDir?: unknown; hostPath?: { path: string }; configMap?: { name: string } }>;
  securityContext?: { supplementalGroups?: number[] };
}

/** What containerd and CRI-O grant a container that does not drop ALL. */
const RUNTIME_DEFAULT_CAPS = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

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
  await new Promise((r) => setTimeout(r, 3000));
  // everything left in the node namespace (e.g. FRR's daemons) was started by this test; the relay goes with lan.destroy()
  const netns = lan.nodes[0]!.netns;
  for (const pid of spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number)) {
    if (pid === lan.nodes[0]!.relay?.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // it exited since the listing (FRR's daemons stop on the pod's SIGTERM)
    }
  }
  await new Promise((r) => setTimeout(r, 500));
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNode({ name: lan.nodes[0]!.name })
    .catch(() => undefined);
  await lan.destroy();
  rmSync(dir, { recursive: true, force: true });
});

afterAll(cleanUpNamespaces);

/** setpriv arguments that give a process exactly what a container's securityContext grants. */
function privileges(c: Container, groups: number[]): string[] {
  const sc = c.securityContext ?? {};
  const caps = new Set(sc.capabilities?.drop?.includes('ALL') ? [] : RUNTIME_DEFAULT_CAPS);
  for (const a of sc.capabilities?.add ?? []) caps.add(a);
  for (const d of sc.capabilities?.drop ?? []) caps.delete(d);
  return [
    'setpriv',
    ...(sc.allowPrivilegeEscalation === false ? ['--no-new-privs'] : []),
    ...(groups.length ? [`--groups=${groups.join(',')}`] : ['--clear-groups']),
    '--inh-caps=-all',
    `--bounding-set=-all${[...caps].map((a) => `,+${a.toLowerCase()}`).join('')}`,
  ];
}

interface Pod {
  proc: ChildProcess;
  exec(cmd: string[]): { code: number; out: string };
}

/** Runs one container of a pod spec in node's network namespace, in a mount namespace of its own. */
/** Whether the pod's process is past its mount setup: it has exec'd the container's command. */
/** The end of the pod's setup script (in its command line until the container's command replaces it). */
const SETUP_MARK = 'exec "$@"';

function pastSetup(pid: number | undefined): boolean {
  try {
    return !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(SETUP_MARK);
  } catch {
    return false;
  }
}

function startPod(
  name: string,
  spec: PodSpec,
  c: Container,
  objs: K8sObject[],
  node: LanNode,
  dir: string,
  groups: number[],
  command: string[],
): Pod {
  const host = join(dir, 'host');
  const mounts = ['mount -t tmpfs none /run', 'mount -t tmpfs none /var/tmp'];
  for (const m of c.volumeMounts ?? []) {
    const v = spec.volumes.find((x) => x.name === m.name)!;
    // the test's kubeconfig lives in the host's /tmp: an emptyDir there would hide it (the agent's /tmp is scratch only)
    if (m.mountPath === '/tmp') continue;
    const target = m.mountPath.replace(/^\/var\/run\//, '/run/');
    // mount points are created only on the fresh tmpfs mounts, never on the host's root filesystem
    if (!/^\/(run|var\/tmp)\//.test(target) && !existsSync(target) && !v.configMap)
      throw new Error(`${name}: no mount point ${m.mountPath} on this machine`);
    const mkdir = `mkdir -p ${target}`;
    if (v.hostPath) {
      mkdirSync(join(host, v.hostPath.path), { recursive: true }); // kubelet: DirectoryOrCreate, root 0755
      mounts.push(mkdir, `mount --bind ${join(host, v.hostPath.path)} ${target}`);
    } else if (v.emptyDir !== undefined) {
      mounts.push(mkdir, `mount -t tmpfs none ${target}`);
    } else if (v.configMap) {
      // ConfigMap volumes become files in dir; the command refers to them there
      const data = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap!.name)!.data as Record<
        string,
        string
      >;
      const files = join(dir, `${name}-${m.name}`);
      mkdirSync(files, { recursive: true });
      for (const [file, text] of Object.entries(data)) writeFileSync(join(files, file), text);
      command = command.map((a) => a.replaceAll(`${m.mountPath}/`, `${files}/`));
    }
  }
  const readOnly = !!c.securityContext?.readOnlyRootFilesystem;
  if (readOnly) mounts.push('mount -o remount,bind,ro /', 'mount -o remount,ro /run', 'mount -o remount,ro /var/tmp');
  const log = openSync(join(dir, `${name}.log`), 'a');
  const proc = spawn(
    'ip',
    [
      'netns',
      'exec',
      node.netns,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'bash',
      '-c',
      `set -e; ${mounts.join('; ')}; ${SETUP_MARK}`,
      name,
      ...privileges(c, groups),
      ...command,
    ],
    { stdio: ['ignore', log, log] },
  );
  return {
    proc,
    exec(cmd) {
      // not while the pod is still setting up its mounts: a command entering the namespace then can make
      // `mount -o remount,bind,ro /` fail with "mount point is busy"
      if (!pastSetup(proc.pid)) return { code: -1, out: `pod ${name} still starting` };
      const r = spawnSync(
        'nsenter',
        [`--mount=/proc/${proc.pid}/ns/mnt`, `--net=/var/run/netns/${node.netns}`, ...privileges(c, groups), ...cmd],
        { encoding: 'utf8' },
      );
      return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
    },
  };
}

const stopped = (p: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill(signal);
  });

const cases = [
  {
    daemon: 'frr',
    /** What the daemon itself runs, asked from the agent's pod with the agent's privileges. */
    configured: (inAgent: Pod) =>
      new RegExp(`router bgp 65001[\\s\\S]*neighbor ${LAN_V4}.254 remote-as 65000`).test(
        inAgent.exec(['vtysh', '-c', 'show running-config']).out,
      ),
    /** Process ids that change when the daemon restarts. */
    daemonPids: (dir: string) =>
      ['zebra', 'bgpd'].map((d) =>
        readFileSync(join(dir, 'host', 'run', 'purelb', 'frr-run', `${d}.pid`), 'utf8').trim(),
      ),
    /** How the daemon pod dies for the restart check (FRR: a normal pod deletion). */
    kill: 'SIGTERM' as NodeJS.Signals,
  },
  {
    daemon: 'gobgp',
    configured: (inAgent: Pod) => {
      const target = DEFAULT_BACKEND_PATHS.gobgpTarget;
      return (
        /AS:\s+65001/.test(inAgent.exec(['gobgp', '--target', target, 'global']).out) &&
        inAgent.exec(['gobgp', '--target', target, 'neighbor']).out.includes(`${LAN_V4}.254`)
      );
    },
    daemonPids: () => [] as string[],
    // a crash: the socket file stays behind on the hostPath
    kill: 'SIGKILL' as NodeJS.Signals,
  },
];

describe.each(cases)('overlays/$daemon', ({ daemon, configured, daemonPids, kill }) => {
  test(`purelb-${daemon} and the agent share only the hostPath directories; an agent rollout leaves the daemon running and configured`, async () => {
    const ns = await freshNamespace(kc, `deploy-${daemon}`);
    const objs = await kustomize(`deploy/purelb/overlays/${daemon}`);
    const podOf = (name: string) =>
      (objs.find((o) => o.kind === 'DaemonSet' && o.metadata.name === name)!.spec as { template: { spec: PodSpec } })
        .template.spec;
    const agentSpec = podOf('lbnodeagent');
    const daemonSpec = podOf(`purelb-${daemon}`);
    const agentC = agentSpec.containers.find((c) => c.name === 'lbnodeagent')!;
    const daemonC = daemonSpec.containers[0]!;
    expect(agentSpec.containers).toHaveLength(1); // no sidecar: an agent rollout restarts only the agent
    const dir = mkdtempSync(join(tmpdir(), `purelb-${daemon}-ds-`));
    const lan = await createLan(1, Number(new URL(kc.getCurrentCluster()!.server).port));
    run = { lan, dir, procs: [] };
    const node = lan.nodes[0]!;
    // the image's frrvty (gid 185) is the host's frrvty here
    const hostGroup = (groups?: number[]) =>
      groups?.length ? [Number(execFileSync('getent', ['group', 'frrvty'], { encoding: 'utf8' }).split(':')[2])] : [];
    const tail = (name: string) =>
      existsSync(join(dir, `${name}.log`))
        ? readFileSync(join(dir, `${name}.log`), 'utf8')
            .split('\n')
            .slice(-25)
            .join('\n')
        : '';
    const withLogs = (err: Error, ...names: string[]) =>
      new Error(`${err.message}\n${names.map((n) => `--- ${n}\n${tail(n)}`).join('\n')}`);

    let pods = 0;
    const startDaemon = async () => {
      const name = `${daemon}-${++pods}`;
      const pod = startPod(
        name,
        daemonSpec,
        daemonC,
        objs,
        node,
        dir,
        hostGroup(daemonSpec.securityContext?.supplementalGroups),
        [...(daemonC.command ?? []), ...(daemonC.args ?? [])],
      );
      run!.procs.push(pod.proc);
      await waitFor(
        `${name} ready (its readiness probe passes)`,
        async () => pod.exec(daemonC.readinessProbe!.exec!.command).code === 0,
        30_000,
      ).catch((err: Error) => {
        throw withLogs(err, name);
      });
      return pod;
    };
    const startAgent = (name: string) => {
      // the agent's own arguments from the manifest, with the test's kubeconfig, namespace and node
      const manifestArgs = agentC
        .args!.slice(1)
        .filter((a, i, all) => a !== '--health-port' && all[i - 1] !== '--health-port');
      const pod = startPod(
        name,
        agentSpec,
        agentC,
        objs,
        node,
        dir,
        hostGroup(agentSpec.securityContext?.supplementalGroups),
        [
          process.execPath,
          join(repoRoot, 'bin', 'purelb.js'),
          'agent',
          ...manifestArgs,
          '--kubeconfig',
          process.env.PURELB_TEST_KUBECONFIG!,
          '--namespace',
          ns,
          '--node-name',
          node.name,
          '--node-ip',
          node.ipv4,
          '--kube-lb-kind',
          'ifb',
          '--health-port',
          '0',
        ],
      );
      run!.procs.push(pod.proc);
      return pod;
    };
    const nodeStatus = async () => (await nodeRoutingStatus(kc, ns, node.name))?.status;
    const appliedSince = (since: number, names: string[]) =>
      waitFor(
        `RouterConfig applied by ${daemon} on ${node.name}`,
        async () => {
          const s = await nodeStatus();
          return s?.lastReload?.result === 'Applied' && Date.parse(s.lastReload.time) >= since - 1000;
        },
        90_000,
      ).catch((err: Error) => {
        throw withLogs(err, ...names);
      });

    const daemonPod = await startDaemon();
    await kc
      .makeApiClient(CoreV1Api)
      .createNode({ body: { metadata: { name: node.name, labels: { 'purelb-deploy-test': ns } } } });
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'routerconfigs',
      body: {
        apiVersion: 'purelb.io/v1',
        kind: 'RouterConfig',
        metadata: { name: 'tor' },
        spec: {
          nodeSelector: { 'purelb-deploy-test': ns },
          daemon,
          protocol: 'bgp',
          bgp: { localASN: 65001, peers: [{ address: `${LAN_V4}.254`, asn: 65000, holdTime: 9, keepaliveTime: 3 }] },
        },
      },
    });
    let agent = startAgent('agent-1');
    await appliedSince(0, ['agent-1', `${daemon}-1`]);
    // the agent pod may still be setting up its mounts: its exec answers once it runs
    await waitFor(`${daemon} configured, seen from the agent`, async () => configured(agent), 15_000);

    // rolling update of the agent: SIGTERM, then a new pod; the daemon keeps running, untouched
    const pids = daemonPids(dir);
    const conf = daemon === 'frr' ? readFileSync(join(dir, 'host', 'run', 'purelb', 'frr', 'frr.conf'), 'utf8') : '';
    await stopped(agent.proc, 'SIGTERM');
    expect(daemonPod.proc.exitCode).toBeNull();
    const rolled = Date.now();
    agent = startAgent('agent-2');
    await appliedSince(rolled, ['agent-2', `${daemon}-1`]);
    // the agent pod may still be setting up its mounts: its exec answers once it runs
    await waitFor(`${daemon} configured, seen from the agent`, async () => configured(agent), 15_000);
    expect(daemonPod.proc.exitCode).toBeNull();
    expect(daemonPids(dir)).toEqual(pids);
    if (daemon === 'frr')
      expect(readFileSync(join(dir, 'host', 'run', 'purelb', 'frr', 'frr.conf'), 'utf8')).toBe(conf);

    // the daemon's pod restarts: FRR boots from the frr.conf on the hostPath (the agent sees an unchanged
    // RouterConfig and reloads nothing); gobgpd starts empty despite the stale socket and the agent re-applies
    await stopped(daemonPod.proc, kill);
    expect(daemonPod.proc.signalCode ?? daemonPod.proc.exitCode).toBe(kill === 'SIGKILL' ? 'SIGKILL' : 0);
    await startDaemon();
    await waitFor(`${daemon} configured again after its restart`, async () => configured(agent), 30_000).catch(
      (err: Error) => {
        throw withLogs(err, 'agent-2', `${daemon}-2`);
      },
    );
    if (daemon === 'frr') expect(daemonPids(dir)).not.toEqual(pids);
  }, 240_000);
});
