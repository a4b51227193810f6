// deploy/bird: the DaemonSet shares exactly the paths the agent uses by default, and the image's
// entrypoint really starts BIRD (here in a network namespace, without a container runtime) so that the
// agent's BIRD backend can load a rendered config through the socket and the liveness command passes.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { parseRouterConfig } from '../../src/api/validate-routerconfig.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { createTopology, randomPrefix, type Topology } from '../../src/lab/topology/topology.ts';
import { createLogger } from '../../src/log.ts';
import { BirdAdvertiser } from '../../src/routing/bird/advertiser.ts';
import { DEFAULT_BACKEND_PATHS } from '../../src/routing/controller.ts';
import { runTool } from '../../src/routing/exec.ts';
import { waitFor } from '../harness/kube.ts';

let topo: Topology;

beforeAll(async () => {
  topo = await createTopology({
    prefix: randomPrefix('bd'),
    nodes: 1,
    dir: join(tmpdir(), `purelb-bird-deploy-${process.pid}`),
  });
});
afterAll(async () => {
  await topo?.destroy();
});

test("the DaemonSet mounts the agent's default BIRD directory and probes its socket", () => {
  type DS = {
    spec: {
      template: {
        spec: {
          hostNetwork: boolean;
          volumes: Array<{ hostPath?: { path: string } }>;
          containers: Array<{
            livenessProbe: { exec: { command: string[] } };
            volumeMounts: Array<{ mountPath: string }>;
            securityContext: { capabilities: { add: string[] } };
          }>;
        };
      };
    };
  };
  const ds = load(readFileSync(join(repoRoot, 'deploy', 'bird', 'daemonset.yaml'), 'utf8')) as DS;
  const pod = ds.spec.template.spec;
  expect(pod.hostNetwork).toBe(true);
  expect(pod.volumes[0]!.hostPath!.path).toBe(DEFAULT_BACKEND_PATHS.birdConfigDir);
  expect(pod.containers[0]!.volumeMounts[0]!.mountPath).toBe(DEFAULT_BACKEND_PATHS.birdConfigDir);
  expect(pod.containers[0]!.livenessProbe.exec.command).toContain(DEFAULT_BACKEND_PATHS.birdSocket);
  expect(pod.containers[0]!.securityContext.capabilities.add.sort()).toEqual([
    'NET_ADMIN',
    'NET_BIND_SERVICE',
    'NET_RAW',
  ]);
});

test('the entrypoint starts BIRD with a minimal config; the agent backend then loads the rendered one', async () => {
  const n = topo.node(1);
  const dir = join(n.dir, 'bird-run');
  const proc = topo.spawn(
    n.netns,
    'bird-entrypoint',
    'env',
    [`PURELB_BIRD_DIR=${dir}`, join(repoRoot, 'deploy', 'bird', 'entrypoint.sh')],
    n.dir,
  );
  const socket = join(dir, 'bird.ctl');
  // the DaemonSet's liveness command
  await waitFor(
    'liveness (birdc show status) passes',
    async () => (await runTool('birdc', ['-s', socket, 'show', 'status'])).code === 0,
  );
  expect(readFileSync(join(dir, 'bird.conf'), 'utf8')).toContain('protocol device');
  const ad = new BirdAdvertiser({ configDir: dir, socketPath: socket, log: createLogger('bird-deploy-test') });
  const { config } = parseRouterConfig({
    spec: { daemon: 'bird', protocol: 'bgp', bgp: { localASN: 64512, peers: [{ address: n.torIPv4, asn: 65000 }] } },
  });
  expect(
    await ad.apply({ config: config!, nodeName: 'n1', nodeIP: n.ipv4, kubeInterface: 'kube-lb0', passwords: {} }),
  ).toMatchObject({ result: 'Applied' });
  expect((await ad.status()).sessions.map((s) => s.name)).toEqual([n.torIPv4]);
  await topo.stop(proc);
});
