// The Helm chart on the real-cluster lab, with the real helm: `purelb lab up` without the product, then
// helm lint, helm install (CRDs from the chart's crds/, BIRD, the lab's RouterConfig and ServiceGroups from
// values), a Service that gets an address the ToR routes to every node, helm upgrade with changed values
// that land in the cluster while the address stays routed, and helm uninstall that leaves no object of the
// release behind (the CRDs stay: Helm never deletes them).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { run } from '../../src/exec.ts';
import { downLab, upLab, type Lab } from '../../src/lab/lab.ts';
import { DEFAULT_OPTIONS } from '../../src/lab/plan.ts';
import { waitCrdsEstablished } from '../../src/lab/real-cluster.ts';
import { labRouterConfig } from '../../src/lab/routerconfig.ts';
import { realServiceObject, sampleServiceGroups, sampleServices, sampleWorkloads } from '../../src/lab/samples.ts';
import { applyObjects } from '../../src/lab/apply.ts';
import type { K8sObject } from '../../test/harness/deploy.ts';
import { CHART, helm, helmTemplate } from '../../test/harness/helm.ts';
import { addressesOf, allNodes, announcing, readService, waitFor, waitHops } from '../harness.ts';
import { kctl } from './harness.ts';

const NS = 'purelb';
/** The helm commands and their output, quoted in docs/install.md. */
const RESULTS_DIR = process.env.PURELB_E2E_RESULTS ?? join(process.cwd(), '.e2e-results');
const RELEASE = 'purelb';

describe('Helm chart on the real-cluster lab (bird)', () => {
  let lab: Lab;
  const name = `h${randomBytes(2).toString('hex')}`;
  const log = (m: string) => process.stderr.write(`[${name}] ${m}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'purelb-helm-e2e-'));
  const valuesFile = join(dir, 'values.yaml');
  /** every object the release renders (helm template with the same values) */
  let rendered: K8sObject[];
  const helmLab = async (args: string[]) => {
    const r = await helm(args, { kubeconfig: lab.kubeconfig, timeoutMs: 600_000 });
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `helm-${args[0]}.txt`);
    writeFileSync(
      file,
      `$ helm ${args.join(' ').replaceAll(dir, '.').replaceAll(CHART, 'charts/purelb')}\n${r.stdout}${r.stderr}`,
    );
    return r;
  };
  /** `kubectl get` of the object by kind.group/name */
  const exists = async (o: K8sObject) => {
    const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
    const args = ['get', `${o.kind.toLowerCase()}${group}/${o.metadata.name}`, '--ignore-not-found', '-o', 'name'];
    return (await kctl(lab, o.metadata.namespace ? ['-n', o.metadata.namespace, ...args] : args)).trim() !== '';
  };
  /** exit code and stderr together, so a failure shows helm's message */
  const ok = (r: { code: number; stderr: string }) => expect(`${r.code} ${r.stderr}`).toMatch(/^0 /);

  beforeAll(async () => {
    lab = await upLab(
      { ...DEFAULT_OPTIONS, name, daemon: 'bird', protocol: 'bgp', samples: false, install: false },
      log,
    );
    const rc = labRouterConfig(lab.plan, NS);
    // what lab/overlays/bird installs (the chart-equivalence unit test shows these values render the same
    // objects), plus the lab's RouterConfig and sample ServiceGroups from values
    const values = {
      routing: { daemon: 'bird' },
      agent: { extraArgs: ['--kube-lb-kind=ifb'] },
      routerConfigs: [{ name: rc.metadata!.name, spec: rc.spec }],
      serviceGroups: sampleServiceGroups(lab.plan, NS).map((g) => ({
        name: g.metadata!.name,
        spec: (g as { spec: unknown }).spec,
      })),
    };
    writeFileSync(valuesFile, JSON.stringify(values, null, 2));
    rendered = await helmTemplate({}, ['-f', valuesFile]);
  }, 900_000);

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await downLab(name, log);
  }, 120_000);

  test('helm lint accepts the chart with these values', async () => {
    const lint = await helmLab(['lint', '--strict', CHART, '-f', valuesFile]);
    expect(lint.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    ok(lint);
  });

  test('helm install: every object is in the cluster, allocator, agents and BIRD roll out, a Service gets an address the ToR routes to every node', async () => {
    expect((await kctl(lab, ['get', 'crd', '-o', 'name'])).split('\n').filter((l) => l.includes('purelb.io'))).toEqual(
      [],
    );
    const install = await helmLab([
      'install',
      RELEASE,
      CHART,
      '--namespace',
      NS,
      '--create-namespace',
      '-f',
      valuesFile,
      '--wait',
      '--timeout',
      '5m',
    ]);
    ok(install);
    expect(install.stdout).toContain('STATUS: deployed');
    // the CRDs came from the chart's crds/ and are Established
    await waitCrdsEstablished(lab.kubeconfig);
    expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      expect.arrayContaining([
        'DaemonSet/lbnodeagent',
        'DaemonSet/purelb-bird',
        'Deployment/allocator',
        'RouterConfig/lab',
        'ServiceGroup/virtual',
      ]),
    );
    for (const o of rendered)
      expect(`${o.kind}/${o.metadata.name} ${await exists(o)}`).toBe(`${o.kind}/${o.metadata.name} true`);
    for (const w of ['deployment/allocator', 'daemonset/lbnodeagent', 'daemonset/purelb-bird'])
      await kctl(lab, ['-n', NS, 'rollout', 'status', w, '--timeout=180s'], 200_000);
    const ds = JSON.parse(await kctl(lab, ['-n', NS, 'get', 'daemonset/lbnodeagent', '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
      status: { numberReady: number };
    };
    expect(ds.status.numberReady).toBe(lab.plan.nodes.length);
    expect(ds.metadata.labels['app.kubernetes.io/managed-by']).toBe('Helm');

    // a sample Service in front of real pods
    const dual = sampleServices(lab.plan).find((s) => s.name === 'dual')!;
    await applyObjects(lab.kc, sampleWorkloads(lab.plan));
    await applyObjects(lab.kc, [realServiceObject(dual)]);
    for (const a of await addressesOf(lab, 'dual', 2)) await waitHops(lab, a, allNodes(lab), 120_000);

    // the agent's metrics (node label, routing session to the ToR) on its host-network port
    const node = lab.plan.nodes[0]!;
    // the session metric follows the routing status, refreshed every 10 s: wait for it, not only for the ToR
    const sessionUp = new RegExp(`purelb_routing_session_up\\{[^}]*session="[^"]*"[^}]*node="${node.name}"[^}]*\\} 1`);
    const scrape = () => run('ip', ['netns', 'exec', node.netns, 'curl', '-s', `http://${node.ipv4}:7473/metrics`]);
    const metrics = await waitFor(
      'a routing session up in the agent metrics',
      async () => {
        const m = await scrape();
        return sessionUp.test(m) ? m : undefined;
      },
      30_000,
    );
    writeFileSync(
      join(RESULTS_DIR, 'helm-agent-metrics.txt'),
      metrics
        .split('\n')
        .filter((l) => /^purelb_(routing|agent_addresses|agent_fenced)/.test(l))
        .join('\n'),
    );
  }, 600_000);

  test('helm upgrade with changed values: allocator replicas 2 -> 1 and the agent memory limit land in the cluster; the address stays routed', async () => {
    const before = JSON.parse(await kctl(lab, ['-n', NS, 'get', 'deployment/allocator', '-o', 'json'])) as {
      spec: { replicas: number };
    };
    expect(before.spec.replicas).toBe(2);
    const upgrade = await helmLab([
      'upgrade',
      RELEASE,
      CHART,
      '--namespace',
      NS,
      '-f',
      valuesFile,
      '--set',
      'allocator.replicas=1',
      '--set',
      'agent.resources.limits.memory=384Mi',
      '--wait',
      '--timeout',
      '5m',
    ]);
    ok(upgrade);
    expect(upgrade.stdout).toContain('REVISION: 2');
    await kctl(lab, ['-n', NS, 'rollout', 'status', 'daemonset/lbnodeagent', '--timeout=300s'], 320_000);
    const allocator = await waitFor(
      'one allocator pod',
      async () => {
        const d = JSON.parse(await kctl(lab, ['-n', NS, 'get', 'deployment/allocator', '-o', 'json'])) as {
          spec: { replicas: number };
          status: { replicas?: number; readyReplicas?: number };
        };
        return d.status.replicas === 1 && d.status.readyReplicas === 1 ? d : undefined;
      },
      120_000,
    );
    expect(allocator.spec.replicas).toBe(1);
    const pods = JSON.parse(
      await kctl(lab, ['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=lbnodeagent', '-o', 'json']),
    ) as { items: Array<{ spec: { containers: Array<{ resources: { limits: { memory: string } } }> } }> };
    expect(pods.items.map((p) => p.spec.containers[0]!.resources.limits.memory)).toEqual(
      lab.plan.nodes.map(() => '384Mi'),
    );
    const history = await helmLab(['history', RELEASE, '--namespace', NS, '-o', 'json']);
    expect(
      (JSON.parse(history.stdout) as Array<{ revision: number; status: string }>).map((r) => [r.revision, r.status]),
    ).toEqual([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);
    for (const a of await addressesOf(lab, 'dual', 2)) await waitHops(lab, a, allNodes(lab), 120_000);
  }, 600_000);

  test('a MetalLB configuration moved with purelb import: the Services keep the addresses MetalLB gave them', async () => {
    // MetalLB's state as the import docs export it: pools, and Services with MetalLB's annotations and the
    // addresses it wrote. The allocator is stopped meanwhile, as between removing MetalLB and installing purelb-ts.
    const lanBase = lab.plan.lan.v4.replace(/\.0\/24$/, '');
    const [routed, lanIP] = ['10.210.0.7', `${lanBase}.203`];
    await kctl(lab, ['-n', NS, 'scale', 'deployment/allocator', '--replicas=0']);
    await kctl(
      lab,
      ['-n', NS, 'wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/component=allocator', '--timeout=120s'],
      130_000,
    );
    const metallb = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: mlb-lan, namespace: metallb-system}
spec: {addresses: [${lanBase}.200-${lanBase}.209], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: mlb-routed, namespace: metallb-system}
spec: {addresses: [10.210.0.0/24], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: mlb-lan, namespace: metallb-system}
spec: {ipAddressPools: [mlb-lan]}
`;
    const dual = sampleServices(lab.plan).find((s) => s.name === 'dual')!;
    const services: { name: string; ip: string; annotations: Record<string, string> }[] = [
      { name: 'mlb-routed', ip: routed, annotations: { 'metallb.io/loadBalancerIPs': routed } },
      { name: 'mlb-lan', ip: lanIP, annotations: { 'metallb.io/address-pool': 'mlb-lan' } },
    ];
    const exported: string[] = [];
    for (const s of services) {
      const obj = realServiceObject({ ...dual, name: s.name, families: ['IPv4'] }) as K8sObject & {
        metadata: { annotations?: Record<string, string> };
      };
      obj.metadata.annotations = s.annotations;
      await applyObjects(lab.kc, [obj]);
      const status = JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: s.ip }] } } });
      await kctl(lab, [
        '-n',
        obj.metadata.namespace!,
        'patch',
        'service',
        s.name,
        '--subresource=status',
        '--type=merge',
        '-p',
        status,
      ]);
      exported.push(await kctl(lab, ['-n', obj.metadata.namespace!, 'get', 'service', s.name, '-o', 'yaml']));
    }
    writeFileSync(join(dir, 'metallb.yaml'), [metallb, ...exported].join('\n---\n'));
    const patches = join(dir, 'patches.yaml');
    const imported = await run(process.execPath, [
      'bin/purelb.js',
      'import',
      '--from',
      'metallb',
      '-f',
      join(dir, 'metallb.yaml'),
      '--node-subnet',
      lab.plan.lan.v4,
      '--service-patches',
      patches,
    ]);
    writeFileSync(join(dir, 'imported.yaml'), imported);
    await kctl(lab, ['apply', '-f', join(dir, 'imported.yaml')]);
    await kctl(lab, ['apply', '--server-side', '--field-manager=purelb-import', '-f', patches]);
    await kctl(lab, ['-n', NS, 'scale', 'deployment/allocator', '--replicas=1']);

    const held = async (name: string) =>
      (await readService(lab, name)).metadata?.annotations?.['purelb.io/allocated-by'] === 'PureLB'
        ? (await readService(lab, name)).status?.loadBalancer?.ingress?.map((i) => i.ip)
        : undefined;
    for (const s of services)
      expect(await waitFor(`${s.name} held by the allocator`, () => held(s.name), 120_000)).toEqual([s.ip]);
    // the virtual address is routed by the ToR via every node; the LAN one is announced by one node
    await waitHops(lab, routed, allNodes(lab), 120_000);
    const announcer = await waitFor(
      'the LAN address announced',
      async () => announcing(await readService(lab, 'mlb-lan'), 4),
      60_000,
    );
    expect(lab.plan.nodes.map((n) => n.name)).toContain(announcer.split(',')[0]);
    for (const s of services) await kctl(lab, ['-n', 'default', 'delete', 'service', s.name]);
  }, 600_000);

  test('helm uninstall: no object of the release is left; the CRDs stay', async () => {
    const uninstall = await helmLab(['uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '3m']);
    ok(uninstall);
    expect(uninstall.stdout).toContain(`release "${RELEASE}" uninstalled`);
    for (const o of rendered)
      expect(`${o.kind}/${o.metadata.name} ${await exists(o)}`).toBe(`${o.kind}/${o.metadata.name} false`);
    expect(await kctl(lab, ['get', 'crd', 'routerconfigs.purelb.io', '-o', 'name'])).toContain(
      'routerconfigs.purelb.io',
    );
    expect((await helmLab(['list', '--namespace', NS, '-q'])).stdout.trim()).toBe('');
  }, 300_000);
});
