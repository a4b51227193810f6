import { describe, expect, test } from '@jest/globals';
import {
  cniConfig,
  containerdConfig,
  kubeletConfig,
  kubeNodePlan,
  kubeProxyConfig,
  podRoutes,
} from '../../src/lab/kube/node-config.ts';
import { DEFAULT_OPTIONS, planLab } from '../../src/lab/plan.ts';
import { realServiceObject, sampleServices, sampleWorkloads, ECHO_PORT } from '../../src/lab/samples.ts';
import { answerKey } from '../../src/lab/spread.ts';

const plan = planLab({ ...DEFAULT_OPTIONS, name: 'x1' }, '10.254.7.0/24');
const nodes = plan.nodes.map((_, i) => kubeNodePlan(plan, i));

describe('real-cluster node configuration', () => {
  test('every node has its own pod ranges, cgroups and state directory', () => {
    expect(nodes.map((k) => [k.podV4, k.podV6, k.cgroup, k.systemCgroup])).toEqual([
      ['10.244.1.0/24', 'fd00:10:244:1::/64', 'purelb-lab-x1-node1', 'purelb-lab-x1-node1-system'],
      ['10.244.2.0/24', 'fd00:10:244:2::/64', 'purelb-lab-x1-node2', 'purelb-lab-x1-node2-system'],
      ['10.244.3.0/24', 'fd00:10:244:3::/64', 'purelb-lab-x1-node3', 'purelb-lab-x1-node3-system'],
    ]);
    expect(new Set(nodes.map((k) => k.dir)).size).toBe(3);
    // unix socket paths must fit sun_path (108 bytes)
    for (const k of nodes) expect(`${k.containerdSocket}.ttrpc`.length).toBeLessThan(108);
  });

  test('containerd: own root, state and sockets; runc with cgroupfs; the lab pause image; CNI from the node dir', () => {
    const k = nodes[0]!;
    const toml = containerdConfig(k, 'docker.io/library/pause:x');
    for (const want of [
      `root = "${k.dir}/containerd/root"`,
      `state = "${k.dir}/containerd/state"`,
      `address = "${k.containerdSocket}"`,
      'sandbox_image = "docker.io/library/pause:x"',
      'SystemdCgroup = false',
      'restrict_oom_score_adj = true',
      `conf_dir = "${k.dir}/cni/net.d"`,
      'netns_mounts_under_state_dir = true',
    ]) {
      expect(toml).toContain(want);
    }
  });

  test('CNI: dual-stack host-local ranges of the node, IPAM state in the node dir', () => {
    const conf = JSON.parse(cniConfig(nodes[1]!));
    expect(conf.plugins[0].ipam.ranges).toEqual([[{ subnet: '10.244.2.0/24' }], [{ subnet: 'fd00:10:244:2::/64' }]]);
    expect(conf.plugins[0].ipam.dataDir).toBe(`${nodes[1]!.dir}/cni/ipam`);
  });

  test('kubelet and kube-proxy: cgroup v1 allowed, node-local root, no conntrack sysctls', () => {
    const kubelet = JSON.parse(kubeletConfig(nodes[0]!, '/ca.crt'));
    expect(kubelet).toMatchObject({
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: '/purelb-lab-x1-node1',
      address: '192.168.100.2',
    });
    const proxy = JSON.parse(kubeProxyConfig(nodes[0]!));
    expect(proxy).toMatchObject({ hostnameOverride: 'x1-node1', mode: 'iptables', conntrack: { maxPerCore: 0 } });
  });

  test("each node routes the other nodes' pod ranges over the LAN", () => {
    expect(podRoutes(nodes, nodes[0]!)).toEqual([
      'route replace 10.244.2.0/24 via 192.168.100.3',
      'route replace fd00:10:244:2::/64 via fd00:100::3',
      'route replace 10.244.3.0/24 via 192.168.100.4',
      'route replace fd00:10:244:3::/64 via fd00:100::4',
    ]);
  });
});

describe('real-cluster samples', () => {
  test('Services select their workload on the echo port; ETP Local pods sit exactly on the endpoint nodes', () => {
    const services = sampleServices(plan);
    const local = services.find((s) => s.etp === 'Local')!;
    const svc = realServiceObject(local) as {
      spec: { selector: Record<string, string>; ports: { targetPort: number }[] };
    };
    expect(svc.spec.selector).toEqual({ app: 'echo-web-local' });
    expect(svc.spec.ports[0]!.targetPort).toBe(ECHO_PORT);
    const workloads = sampleWorkloads(plan) as {
      metadata: { name: string };
      spec: { replicas: number; template: { spec: { affinity: unknown } } };
    }[];
    expect(workloads.map((w) => [w.metadata.name, w.spec.replicas])).toEqual([
      ['echo', 3],
      ['echo-web-local', 2],
    ]);
    expect(JSON.stringify(workloads[1]!.spec.template.spec.affinity)).toContain('"values":["x1-node1","x1-node2"]');
  });

  test('an answer names node and pod; a failed request is counted as such', () => {
    expect(answerKey('pod=echo-abc node=x1-node2\n')).toBe('x1-node2/echo-abc');
    expect(answerKey('x1-node1')).toBe('x1-node1');
    expect(answerKey('-')).toBe('(failed)');
  });
});
