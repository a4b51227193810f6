// Static properties of the rendered deploy/ manifests and of the Dockerfile that a reviewer would
// otherwise check by eye: least privilege in the pod specs, the downward-API environment, probes on
// the health port the component is told to serve, valid example objects, production-only images.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { validateObject, validateObjects } from '../../src/api/validate.ts';
import { DEFAULT_BACKEND_PATHS } from '../../src/routing/controller.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { kustomize, kustomizations, objectId, type K8sObject } from '../harness/deploy.ts';

interface Container {
  name: string; image: string; args?: string[]; command?: string[];
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] } };
}
interface PodSpec { hostNetwork?: boolean; serviceAccountName: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; supplementalGroups?: number[] };
  containers: Container[]; tolerations?: unknown[];
  volumes?: Array<{ name: string; hostPath?: { path: string }; emptyDir?: unknown; configMap?: { name: string } }> }
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
    expect(c!.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c!.args?.slice(0, 3)).toEqual(['allocator', '--namespace', '$(PURELB_NAMESPACE)']);
    expect(c!.env).toContainEqual({ name: 'PURELB_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
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
    const fromField = Object.fromEntries((agent.env ?? []).filter((e) => e.valueFrom?.fieldRef).map((e) => [e.name, e.valueFrom!.fieldRef!.fieldPath]));
    expect(fromField).toMatchObject({ PURELB_NODE_NAME: 'spec.nodeName', PURELB_HOST: 'status.hostIP', PURELB_NAMESPACE: 'metadata.namespace' });
  });

  test('the control-plane overlay adds only the control-plane toleration', async () => {
    const overlay = await kustomize('deploy/purelb/overlays/control-plane');
    expect(overlay.map(objectId).sort()).toEqual(base.map(objectId).sort());
    expect(podSpec(find(overlay, 'DaemonSet', 'lbnodeagent')).tolerations)
      .toEqual([{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }]);
  });
});

describe('routing overlays', () => {
  const agentOf = (objs: K8sObject[]) => podSpec(find(objs, 'DaemonSet', 'lbnodeagent'));
  const mountOf = (c: Container, volume: string) => c.volumeMounts?.find((m) => m.name === volume)?.mountPath;
  const baseAgent = () => agentOf(base).containers[0]!;

  test.each(['bird', 'frr', 'gobgp', 'control-plane'])('%s: the base objects are all there, the agent container keeps its privileges', async (name) => {
    const objs = await kustomize(`deploy/purelb/overlays/${name}`);
    expect(objs.map(objectId)).toEqual(expect.arrayContaining(base.map(objectId)));
    const agent = agentOf(objs).containers[0]!;
    expect(agent.name).toBe('lbnodeagent');
    expect(agent.securityContext).toEqual(baseAgent().securityContext);
  });

  test('bird: deploy/bird\'s BIRD shares its hostPath directory with the agent at the agent\'s default paths', async () => {
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

  test('gobgp: the sidecar serves gRPC only on the unix socket the agent is pointed at, with no capability', async () => {
    const spec = agentOf(await kustomize('deploy/purelb/overlays/gobgp'));
    const [agent, gobgpd] = spec.containers as [Container, Container];
    const socket = agent.args!.find((a) => a.startsWith('--gobgp-socket='))!.split('=')[1]!;
    expect(gobgpd.command).toContain(`--api-hosts=unix://${socket}`);
    expect(gobgpd.command).toContain('--pprof-disable');
    const dir = socket.slice(0, socket.lastIndexOf('/'));
    expect(mountOf(agent, 'gobgp')).toBe(dir);
    expect(mountOf(gobgpd, 'gobgp')).toBe(dir);
    expect(gobgpd.securityContext?.capabilities).toEqual({ drop: ['ALL'] });
  });

  test('frr: daemons and agent share /etc/frr and the vty sockets; the agent gets the image\'s frrvty group', async () => {
    const objs = await kustomize('deploy/purelb/overlays/frr');
    const spec = agentOf(objs);
    const [agent, frr] = spec.containers as [Container, Container];
    for (const c of [agent, frr]) {
      expect(mountOf(c, 'frr-etc')).toBe(DEFAULT_BACKEND_PATHS.frrConfDir);
      expect(mountOf(c, 'frr-run')).toBe('/var/run/frr'); // FRR's default vty socket directory
    }
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const gid = Number(dockerfile.match(/groupadd --system --gid (\d+) frrvty/)![1]);
    expect(spec.securityContext?.supplementalGroups).toEqual([gid]);
    const daemons = String((find(objs, 'ConfigMap', spec.volumes!.find((v) => v.configMap)!.configMap!.name).data as Record<string, string>).daemons);
    for (const d of ['bgpd', 'ospfd', 'ospf6d', 'bfdd']) expect(daemons).toMatch(new RegExp(`^${d}=yes$`, 'm'));
  });

  test('every flag the manifests give purelb is one its command accepts', async () => {
    const helps = new Map<string, string>();
    const help = (cmd: string) => helps.get(cmd) ?? helps.set(cmd,
      spawnSync(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), cmd, '--help'], { encoding: 'utf8' }).stdout).get(cmd)!;
    for (const dir of kustomizations().filter((d) => d.startsWith('deploy/purelb'))) {
      for (const o of (await kustomize(dir)).filter((x) => x.kind === 'Deployment' || x.kind === 'DaemonSet')) {
        for (const c of podSpec(o).containers.filter((x) => x.image.startsWith('purelb-ts-') && !x.command)) {
          const [cmd, ...args] = c.args!;
          const text = help(cmd!);
          for (const flag of args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!)) expect(`${cmd} ${flag} ${text.includes(`${flag} `)}`).toBe(`${cmd} ${flag} true`);
        }
      }
    }
  });
});

test('every kustomization puts every namespaced object in the purelb namespace', async () => {
  for (const dir of kustomizations().filter((d) => d.startsWith('deploy/purelb'))) {
    for (const o of await kustomize(dir)) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) expect(`${objectId(o)} ${o.metadata.namespace}`).toBe(`${objectId(o)} purelb`);
    }
  }
});

test('the RBAC table of docs/install.md is what the manifests grant', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'install.md'), 'utf8');
  const describe = (kind: string, name: string) => ((find(base, kind, name).rules ?? []) as Array<{ resources: string[]; verbs: string[] }>)
    .map((r) => `${r.resources.join(', ')}: ${r.verbs.join(', ')}`).join('; ');
  for (const account of ['allocator', 'lbnodeagent']) {
    expect(doc).toContain(`| \`${account}\` | ${describe('ClusterRole', `purelb:${account}`)} | ${describe('Role', `purelb:${account}`)} |`);
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
    if (line.startsWith('# apiVersion:')) examples.push(current = []);
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
    for (const target of ['allocator', 'agent']) {
      const stage = dockerfile.split(/^FROM /m).find((s) => new RegExp(` AS ${target}\\n`).test(s))!;
      expect(stage).toMatch(/^USER 65534:65534$/m);
      expect(stage).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/purelb.js"\]$/m);
    }
  });

  test('the manifests use the images of its targets', () => {
    const images = [find(base, 'Deployment', 'allocator'), find(base, 'DaemonSet', 'lbnodeagent')].map((o) => podSpec(o).containers[0]!.image);
    expect(images).toEqual(['purelb-ts-allocator:0.1.0', 'purelb-ts-agent:0.1.0']);
    expect(dockerfile).toContain('--target allocator -t purelb-ts-allocator:0.1.0');
    expect(dockerfile).toContain('--target agent     -t purelb-ts-agent:0.1.0');
  });

  test('every package src/ imports is a production dependency (the image has no devDependencies)', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const files = (dir: string): string[] => readdirSync(dir).flatMap((e) => {
      const p = join(dir, e);
      return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
    });
    const used = new Set<string>();
    for (const file of [...files(join(repoRoot, 'src')), join(repoRoot, 'bin', 'purelb.js')]) {
      const text = readFileSync(file, 'utf8');
      for (const m of [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'([^']+)'/gm), ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)]) {
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
      ip: 'iproute2', arping: 'iputils-arping', python3: 'python3', bird: 'bird2', birdc: 'bird2',
      vtysh: 'frr', '/usr/lib/frr/frr-reload.py': 'frr-pythontools',
    };
    const files = (dir: string): string[] => readdirSync(dir).flatMap((e) => {
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
    expect([...programs].sort()).toEqual(expect.arrayContaining(['arping', 'bird', 'ip', 'python3', 'vtysh']));
    expect([...programs].filter((p) => !(p in packages))).toEqual([]);
    const stage = dockerfile.split(/^FROM /m).find((x) => / AS agent\n/.test(x))!;
    for (const p of programs) expect(`${p}: ${stage.includes(` ${packages[p]!} `) || stage.includes(` ${packages[p]!}\n`)}`).toBe(`${p}: true`);
    expect(stage).toContain('/usr/share/gocode/src/github.com/osrg/gobgp/api/');
  });

  test('the image copies every directory the runtime reads', () => {
    for (const dir of ['bin', 'src', 'templates', 'crds']) expect(dockerfile).toContain(`COPY ${dir} ./${dir}`);
  });
});
