// Static properties of the rendered deploy/ manifests and of the Dockerfile that a reviewer would
// otherwise check by eye: least privilege in the pod specs, the downward-API environment, probes on
// the health port the component is told to serve, valid example objects, production-only images.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { parseOutOfServiceCauses } from '../../src/agent/out-of-service.ts';
import { validateObject, validateObjects } from '../../src/api/validate.ts';
import { DEFAULT_BACKEND_PATHS } from '../../src/routing/controller.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kustomize, kustomizations, objectId, type K8sObject } from '../harness/deploy.ts';

interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  livenessProbe?: { httpGet?: { path: string; port: string | number }; exec?: { command: string[] } };
  readinessProbe?: { httpGet?: { path: string; port: string | number }; exec?: { command: string[] } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsUser?: number;
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
}
interface PodSpec {
  hostNetwork?: boolean;
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; supplementalGroups?: number[] };
  containers: Container[];
  tolerations?: unknown[];
  volumes?: Array<{
    name: string;
    hostPath?: { path: string; type?: string };
    emptyDir?: unknown;
    configMap?: { name: string };
  }>;
}
const podSpec = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;

let base: K8sObject[];
const find = (objs: K8sObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind} ${name} not rendered`);
  return o;
};

beforeAll(async () => {
  base = await kustomize('deploy/purelb');
});

/** The --health-port argument must be where the probes look. */
function expectProbesOnHealthPort(c: Container): void {
  const args = c.args ?? [];
  const port = Number(args[args.indexOf('--health-port') + 1]);
  expect(port).toBeGreaterThan(0);
  const named = c.ports!.find((p) => p.containerPort === port)!;
  expect(named).toBeDefined();
  expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: named.name });
  expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: named.name });
  expect(c.resources?.requests?.memory).toBeDefined();
  expect(c.resources?.limits?.memory).toBeDefined();
}

describe('allocator Deployment', () => {
  test('2 replicas, non-root, read-only root, every capability dropped, probes, resources', () => {
    const d = find(base, 'Deployment', 'allocator');
    expect((d.spec as { replicas: number }).replicas).toBe(2);
    const spec = podSpec(d);
    expect(spec.hostNetwork).toBeUndefined();
    expect(spec.serviceAccountName).toBe('allocator');
    expect(spec.securityContext?.runAsNonRoot).toBe(true);
    expect(spec.securityContext?.runAsUser).not.toBe(0);
    const [c] = spec.containers;
    expect(spec.containers).toHaveLength(1);
    expect(c!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c!.args?.slice(0, 3)).toEqual(['allocator', '--namespace', '$(PURELB_NAMESPACE)']);
    expect(c!.env).toContainEqual({
      name: 'PURELB_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    expectProbesOnHealthPort(c!);
  });
});

describe('lbnodeagent DaemonSet', () => {
  test('host network, only NET_ADMIN + NET_RAW, no privilege escalation, read-only root, probes', () => {
    const spec = podSpec(find(base, 'DaemonSet', 'lbnodeagent'));
    expect(spec.hostNetwork).toBe(true);
    expect(spec.serviceAccountName).toBe('lbnodeagent');
    const agent = spec.containers.find((c) => c.name === 'lbnodeagent')!;
    expect(agent.securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
    expect(agent.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(agent.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(agent.args?.[0]).toBe('agent');
    expectProbesOnHealthPort(agent);
    expect(spec.tolerations).toBeUndefined(); // control-plane nodes only through the overlay
  });

  test('node name, node IP and namespace come from the downward API', () => {
    const agent = podSpec(find(base, 'DaemonSet', 'lbnodeagent')).containers[0]!;
    const fromField = Object.fromEntries(
      (agent.env ?? []).filter((e) => e.valueFrom?.fieldRef).map((e) => [e.name, e.valueFrom!.fieldRef!.fieldPath]),
    );
    expect(fromField).toMatchObject({
      PURELB_NODE_NAME: 'spec.nodeName',
      PURELB_HOST: 'status.hostIP',
      PURELB_NAMESPACE: 'metadata.namespace',
    });
  });

  test('the control-plane overlay adds only the control-plane toleration and --out-of-service=cordoned', async () => {
    const overlay = await kustomize('deploy/purelb/overlays/control-plane');
    const byId = (objs: K8sObject[]) => [...objs].sort((a, b) => objectId(a).localeCompare(objectId(b)));
    // the default install with exactly these two additions to the agent's DaemonSet, nothing else
    const expected = base.map((o) => structuredClone(o));
    const agent = podSpec(find(expected, 'DaemonSet', 'lbnodeagent'));
    agent.tolerations = [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }];
    agent.containers[0]!.args!.push('--out-of-service=cordoned');
    expect(byId(overlay)).toEqual(byId(expected));
    // kubeadm, kind and Talos label control-plane nodes node.kubernetes.io/exclude-from-external-load-balancers,
    // which the default install (no --out-of-service: cordoned,exclude-label) takes as out of service
    const outOfService = (objs: K8sObject[]) =>
      podSpec(find(objs, 'DaemonSet', 'lbnodeagent')).containers[0]!.args!.filter((a) =>
        a.startsWith('--out-of-service'),
      );
    expect(outOfService(base)).toEqual([]);
    const [flag] = outOfService(overlay);
    expect(parseOutOfServiceCauses(flag!.slice('--out-of-service='.length))).toEqual(new Set(['cordoned']));
  });
});

describe('routing overlays', () => {
  const agentOf = (objs: K8sObject[]) => podSpec(find(objs, 'DaemonSet', 'lbnodeagent'));
  const mountOf = (c: Container, volume: string) => c.volumeMounts?.find((m) => m.name === volume)?.mountPath;
  const baseAgent = () => agentOf(base).containers[0]!;

  test.each(['bird', 'frr', 'gobgp', 'control-plane'])(
    '%s: the base objects are all there, the agent container keeps its privileges',
    async (name) => {
      const objs = await kustomize(`deploy/purelb/overlays/${name}`);
      expect(objs.map(objectId)).toEqual(expect.arrayContaining(base.map(objectId)));
      const agent = agentOf(objs).containers[0]!;
      expect(agent.name).toBe('lbnodeagent');
      expect(agent.securityContext).toEqual(baseAgent().securityContext);
    },
  );

  test("bird: deploy/bird's BIRD shares its hostPath directory with the agent at the agent's default paths", async () => {
    const objs = await kustomize('deploy/purelb/overlays/bird');
    const bird = podSpec(find(objs, 'DaemonSet', 'purelb-bird'));
    const birdDir = bird.volumes!.find((v) => v.hostPath)!.hostPath!.path;
    expect(birdDir).toBe(DEFAULT_BACKEND_PATHS.birdConfigDir);
    expect(DEFAULT_BACKEND_PATHS.birdSocket).toBe(`${birdDir}/bird.ctl`);
    // the agent's hostPath /run/purelb holds it (/var/run, if used, is a symlink to /run on hosts and in the image)
    const agentSpec = agentOf(objs);
    const hostDir = agentSpec.volumes!.find((v) => v.name === 'run-purelb')!.hostPath!.path;
    expect(mountOf(agentSpec.containers[0]!, 'run-purelb')).toBe(hostDir);
    expect(birdDir.replace(/^\/var\/run\//, '/run/').startsWith(`${hostDir}/`)).toBe(true);
  });

  /** hostPath of a container's mount of that path (undefined when it is not a hostPath). */
  const hostPathAt = (spec: PodSpec, c: Container, mountPath: string) => {
    const m = c.volumeMounts?.find((x) => x.mountPath === mountPath);
    return m && spec.volumes?.find((v) => v.name === m.name)?.hostPath?.path;
  };

  test.each(['frr', 'gobgp'])(
    '%s: the daemon is its own DaemonSet (purelb-%s), so an agent rollout never restarts it',
    async (daemon) => {
      const objs = await kustomize(`deploy/purelb/overlays/${daemon}`);
      // exactly the base plus deploy/<daemon>, nothing patched into the daemon from the agent side
      const standalone = await kustomize(`deploy/${daemon}`);
      expect(objs.map(objectId).sort()).toEqual([...base, ...standalone].map(objectId).sort());
      expect(agentOf(objs).containers.map((c) => c.name)).toEqual(['lbnodeagent']);
      const ds = find(objs, 'DaemonSet', `purelb-${daemon}`);
      expect(ds.metadata.namespace).toBe('purelb');
      expect((ds.spec as { updateStrategy?: unknown }).updateStrategy).toEqual({
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: 1 },
      });
      const spec = podSpec(ds);
      expect(spec.hostNetwork).toBe(true);
      expect(spec.automountServiceAccountToken).toBe(false); // a routing daemon never talks to the API server
      expect(spec.containers).toHaveLength(1);
      const [c] = spec.containers as [Container];
      expect(c.image).toBe(podSpec(find(base, 'DaemonSet', 'lbnodeagent')).containers[0]!.image); // FRR 8.4 and gobgpd are in the agent image
      expect(c.securityContext).toMatchObject({
        runAsUser: 0,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
      });
      expect(c.securityContext?.privileged).toBeUndefined();
      expect(c.livenessProbe?.exec?.command.length).toBeGreaterThan(0);
      expect(c.readinessProbe?.exec?.command.length).toBeGreaterThan(0);
      // what the daemon shares with the agent lives on the node, so it outlives both pods
      for (const v of spec.volumes ?? [])
        if (v.hostPath)
          expect(v.hostPath).toEqual({
            path: expect.stringMatching(/^\/run\/purelb\/[a-z-]+$/),
            type: 'DirectoryOrCreate',
          });
    },
  );

  test("gobgp: gobgpd serves gRPC only on the unix socket at the agent's default --gobgp-socket, on a hostPath the agent mounts, with no capability", async () => {
    const objs = await kustomize('deploy/purelb/overlays/gobgp');
    const agentSpec = agentOf(objs);
    const agent = agentSpec.containers[0]!;
    expect(agent.args!.some((a) => a.startsWith('--gobgp-socket'))).toBe(false); // the default is the DaemonSet's socket
    const socket = DEFAULT_BACKEND_PATHS.gobgpTarget.replace(/^unix:\/\//, '');
    const spec = podSpec(find(objs, 'DaemonSet', 'purelb-gobgp'));
    const gobgpd = spec.containers[0]!;
    const script = [...(gobgpd.command ?? []), ...(gobgpd.args ?? [])].join(' ');
    expect(script).toContain(`--api-hosts=unix://${socket}`);
    expect(script).toContain('--pprof-disable');
    // a socket file left by a killed gobgpd makes the next one exit: removed first
    expect(script.indexOf(`rm -f ${socket}`)).toBeGreaterThan(-1);
    expect(script.indexOf(`rm -f ${socket}`)).toBeLessThan(script.indexOf('exec gobgpd'));
    expect(gobgpd.livenessProbe?.exec?.command).toContain(`unix://${socket}`);
    const dir = socket.slice(0, socket.lastIndexOf('/'));
    expect(hostPathAt(spec, gobgpd, dir)).toBe(dir);
    // the agent reaches it through its /run/purelb hostPath, at the same path
    const agentHost = hostPathAt(agentSpec, agent, '/run/purelb')!;
    expect(agentHost).toBe('/run/purelb');
    expect(dir.startsWith(`${agentHost}/`)).toBe(true);
    expect(gobgpd.securityContext?.capabilities).toEqual({ drop: ['ALL'] });
  });

  test("frr: FRR and the agent share /etc/frr and the vty sockets through the same hostPaths; the agent gets the image's frrvty group", async () => {
    const objs = await kustomize('deploy/purelb/overlays/frr');
    const agentSpec = agentOf(objs);
    const agent = agentSpec.containers[0]!;
    const frrSpec = podSpec(find(objs, 'DaemonSet', 'purelb-frr'));
    const frr = frrSpec.containers[0]!;
    // FRR's own default paths in both pods: the agent needs no --frr-dir / --frr-vty-socket
    expect(DEFAULT_BACKEND_PATHS.frrConfDir).toBe('/etc/frr');
    expect(DEFAULT_BACKEND_PATHS.frrVtySocket).toBeUndefined();
    expect(agent.args!.some((a) => a.startsWith('--frr-'))).toBe(false);
    for (const [path, hostPath] of [
      ['/etc/frr', '/run/purelb/frr'],
      ['/var/run/frr', '/run/purelb/frr-run'],
    ]) {
      expect([hostPathAt(agentSpec, agent, path!), hostPathAt(frrSpec, frr, path!)]).toEqual([hostPath, hostPath]);
    }
    // FRR's daemons (user frr) create their sockets in a directory the kubelet creates as root: chowned first
    const script = [...(frr.command ?? []), ...(frr.args ?? [])].join('\n');
    expect(script.indexOf('chown frr:frr /var/run/frr')).toBeGreaterThan(-1);
    expect(script.indexOf('chown frr:frr /var/run/frr')).toBeLessThan(script.indexOf('frrinit.sh start'));
    expect(script).toMatch(/trap '\/usr\/lib\/frr\/frrinit.sh stop/); // SIGTERM stops the daemons: the peers withdraw at once
    expect(script).not.toMatch(/>\s*\/etc\/frr\/frr\.conf/); // the agent's frr.conf survives restarts
    // the capabilities of the former sidecar, nothing more; read-only root with FRR's crash-log dir writable
    expect(frr.securityContext?.capabilities).toEqual({
      add: ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_ADMIN'],
    });
    expect(frr.volumeMounts?.map((m) => m.mountPath).sort()).toEqual([
      '/config',
      '/etc/frr',
      '/var/run/frr',
      '/var/tmp/frr',
    ]);
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const gid = Number(dockerfile.match(/groupadd --system --gid (\d+) frrvty/)![1]);
    expect(agentSpec.securityContext?.supplementalGroups).toEqual([gid]);
    const daemons = String(
      (
        find(objs, 'ConfigMap', frrSpec.volumes!.find((v) => v.configMap)!.configMap!.name).data as Record<
          string,
          string
        >
      ).daemons,
    );
    for (const d of ['bgpd', 'ospfd', 'ospf6d', 'bfdd']) expect(daemons).toMatch(new RegExp(`^${d}=yes$`, 'm'));
  });

  test('every flag the manifests give purelb is one its command accepts', async () => {
    const helps = new Map<string, string>();
    const help = (cmd: string) =>
      helps.get(cmd) ??
      helps
        .set(
          cmd,
          spawnSync(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), cmd, '--help'], { encoding: 'utf8' }).stdout,
        )
        .get(cmd)!;
    for (const dir of kustomizations().filter((d) => d.startsWith('deploy/purelb'))) {
      for (const o of (await kustomize(dir)).filter((x) => x.kind === 'Deployment' || x.kind === 'DaemonSet')) {
        for (const c of podSpec(o).containers.filter((x) => x.image.startsWith('purelb-ts-') && !x.command)) {
          const [cmd, ...args] = c.args!;
          const text = help(cmd!);
          for (const flag of args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!))
            expect(`${cmd} ${flag} ${text.includes(`${flag} `)}`).toBe(`${cmd} ${flag} true`);
        }
      }
    }
  });
});

test('every kustomization puts every namespaced object in the purelb namespace', async () => {
  for (const dir of kustomizations().filter((d) => d.startsWith('deploy/purelb'))) {
    for (const o of await kustomize(dir)) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))
        expect(`${objectId(o)} ${o.metadata.namespace}`).toBe(`${objectId(o)} purelb`);
    }
  }
});

test('the RBAC table of docs/install.md is what the manifests grant', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'install.md'), 'utf8');
  const describe = (kind: string, name: string) =>
    ((find(base, kind, name).rules ?? []) as Array<{ resources: string[]; verbs: string[] }>)
      .map((r) => `${r.resources.join(', ')}: ${r.verbs.join(', ')}`)
      .join('; ');
  for (const account of ['allocator', 'lbnodeagent']) {
    expect(doc).toContain(
      `| \`${account}\` | ${describe('ClusterRole', `purelb:${account}`)} | ${describe('Role', `purelb:${account}`)} |`,
    );
  }
});

test('the default LBNodeAgent sends GARP and passes the validator', () => {
  const lbna = find(base, 'LBNodeAgent', 'default');
  expect((lbna.spec as { local: { sendgarp: boolean } }).local.sendgarp).toBe(true);
  expect(validateObject(lbna)).toEqual([]);
});

test('the commented ServiceGroup examples are valid once uncommented, and none is applied', () => {
  const text = readFileSync(join(repoRoot, 'deploy', 'purelb', 'servicegroup-examples.yaml'), 'utf8');
  // an example runs from its "# apiVersion:" line to the next "# ---" (or a bare "#", or the end)
  const examples: string[][] = [];
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# apiVersion:')) examples.push((current = []));
    if (line === '# ---' || line === '#' || !line.startsWith('# ')) current = undefined;
    current?.push(line.slice(2));
  }
  const groups = examples.map((lines) => load(lines.join('\n')) as K8sObject);
  expect(groups.map((g) => g.metadata.name)).toEqual(['default', 'routed', 'edge']);
  expect(validateObjects(groups)).toEqual([]);
  expect(base.filter((o) => o.kind === 'ServiceGroup')).toEqual([]);
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');

  test('Node 24 slim base, production dependencies only, non-root default user', () => {
    expect(dockerfile).toMatch(/^FROM node:24-[a-z]+-slim AS app$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    for (const [target, flags] of [
      ['allocator', '"--jitless", "--optimize-for-size"'],
      ['agent', '"--optimize-for-size"'],
    ] as const) {
      const stage = dockerfile.split(/^FROM /m).find((s) => new RegExp(` AS ${target}\\n`).test(s))!;
      expect(stage).toMatch(/^USER 65534:65534$/m);
      // V8 flags NODE_OPTIONS refuses (BENCHMARKS.md, Memory): both size the heap for memory, the
      // allocator also runs without V8's compilers
      expect(stage).toContain(`\nENTRYPOINT ["node", ${flags}, "/app/bin/purelb.js"]\n`);
    }
  });

  test('the manifests use the images of its targets', () => {
    const images = [find(base, 'Deployment', 'allocator'), find(base, 'DaemonSet', 'lbnodeagent')].map(
      (o) => podSpec(o).containers[0]!.image,
    );
    expect(images).toEqual(['purelb-ts-allocator:0.1.0', 'purelb-ts-agent:0.1.0']);
    expect(dockerfile).toContain('--target allocator -t purelb-ts-allocator:0.1.0');
    expect(dockerfile).toContain('--target agent     -t purelb-ts-agent:0.1.0');
  });

  test('every package src/ imports is a production dependency (the image has no devDependencies)', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((e) => {
        const p = join(dir, e);
        return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
      });
    const used = new Set<string>();
    for (const file of [...files(join(repoRoot, 'src')), join(repoRoot, 'bin', 'purelb.js')]) {
      const text = readFileSync(file, 'utf8');
      for (const m of [
        ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'([^']+)'/gm),
        ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
      ]) {
        const spec = m[1]!;
        if (spec.startsWith('node:') || spec.startsWith('.')) continue;
        used.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect(used.size).toBeGreaterThan(1);
    expect([...used].filter((p) => !(p in pkg.dependencies))).toEqual([]);
  });

  test('the agent image has a Debian package for every program the agent and routing code run', () => {
    const packages: Record<string, string> = {
      ip: 'iproute2',
      arping: 'iputils-arping',
      python3: 'python3',
      bird: 'bird2',
      birdc: 'bird2',
      vtysh: 'frr',
      '/usr/lib/frr/frr-reload.py': 'frr-pythontools',
    };
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((e) => {
        const p = join(dir, e);
        return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
      });
    const programs = new Set<string>();
    for (const file of [...files(join(repoRoot, 'src', 'agent')), ...files(join(repoRoot, 'src', 'routing'))]) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(?:execFile|spawn|runTool|run)\(\s*'([^']+)'/g)) programs.add(m[1]!);
      // defaults of configurable program paths: `vtysh ?? 'vtysh'`, `reloadScript ?? '/usr/lib/frr/...'`, `birdBinary = 'bird'`
      for (const m of text.matchAll(/(?:vtysh|bird\w*|reloadScript)\s*(?:\?\?|=)\s*'([^']+)'/gi)) programs.add(m[1]!);
    }
    expect([...programs].sort()).toEqual(expect.arrayContaining(['bird', 'ip', 'python3', 'vtysh']));
    expect([...programs].filter((p) => !(p in packages))).toEqual([]);
    const stage = dockerfile.split(/^FROM /m).find((x) => / AS agent\n/.test(x))!;
    for (const p of programs)
      expect(`${p}: ${stage.includes(` ${packages[p]!} `) || stage.includes(` ${packages[p]!}\n`)}`).toBe(`${p}: true`);
    expect(stage).toContain('/usr/share/gocode/src/github.com/osrg/gobgp/api/');
  });

  test('the images copy every directory the runtime reads, and src/ only as compiled JavaScript', () => {
    for (const target of ['allocator', 'agent']) {
      const stage = dockerfile.split(/^FROM /m).find((s) => new RegExp(` AS ${target}\\n`).test(s))!;
      for (const dir of ['bin', 'templates', 'crds']) expect(stage).toContain(`COPY ${dir} ./${dir}`);
      expect(stage).toContain('COPY --from=build /build/dist ./dist');
      expect(stage).not.toMatch(/^COPY src /m);
    }
    const build = dockerfile.split(/^FROM /m).find((s) => / AS build\n/.test(s))!;
    expect(build).toMatch(/^RUN node scripts\/build\.ts dist$/m);
  });
});
