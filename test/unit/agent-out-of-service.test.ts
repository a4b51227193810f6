import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { parseCIDR, parseIP } from '../../src/api/ip.ts';
import { decideAddresses, type DesiredInputs } from '../../src/agent/desired.ts';
import { electWinner } from '../../src/agent/election.ts';
import type { Heartbeat } from '../../src/model/heartbeat.ts';
import { parseIpAddrJson } from '../../src/agent/interfaces.ts';
import {
  EXCLUDE_LB_LABEL,
  OUT_OF_SERVICE_CAUSES,
  outOfServiceReason,
  parseOutOfServiceCauses,
  slimNode,
} from '../../src/agent/out-of-service.ts';
import type { ServiceInput } from '../../src/model/services.ts';

const all = new Set(OUT_OF_SERVICE_CAUSES);
const nodeObj = (opts: { unschedulable?: boolean; label?: string } = {}): V1Node => ({
  metadata: {
    name: 'n1',
    labels: { 'kubernetes.io/hostname': 'n1', ...(opts.label !== undefined ? { [EXCLUDE_LB_LABEL]: opts.label } : {}) },
  },
  spec: opts.unschedulable !== undefined ? { unschedulable: opts.unschedulable } : {},
});

describe('out of service', () => {
  test('in service: no Node, a schedulable Node, unschedulable false', () => {
    expect(outOfServiceReason(undefined, all)).toBeUndefined();
    expect(outOfServiceReason(nodeObj(), all)).toBeUndefined();
    expect(outOfServiceReason(nodeObj({ unschedulable: false }), all)).toBeUndefined();
  });

  test('cordoned', () => {
    expect(outOfServiceReason(nodeObj({ unschedulable: true }), all)).toBe('it is cordoned (spec.unschedulable)');
  });

  test('the exclude label excludes with any value but false, like Kubernetes', () => {
    for (const value of ['', 'true', 'True', 'yes', 'anything']) {
      expect(outOfServiceReason(nodeObj({ label: value }), all)).toBe(
        `it has the label ${EXCLUDE_LB_LABEL}${value ? `=${value}` : ''}`,
      );
    }
    for (const value of ['false', 'False', 'FALSE', 'f', 'F', '0'])
      expect(outOfServiceReason(nodeObj({ label: value }), all)).toBeUndefined();
    // other labels do not count
    expect(
      outOfServiceReason({ metadata: { name: 'n1', labels: { 'node-role.kubernetes.io/control-plane': '' } } }, all),
    ).toBeUndefined();
  });

  test('both causes are named; --out-of-service selects which count', () => {
    const both = nodeObj({ unschedulable: true, label: 'true' });
    expect(outOfServiceReason(both, all)).toBe(
      `it is cordoned (spec.unschedulable) and it has the label ${EXCLUDE_LB_LABEL}=true`,
    );
    expect(outOfServiceReason(both, new Set(['cordoned'] as const))).toBe('it is cordoned (spec.unschedulable)');
    expect(outOfServiceReason(nodeObj({ unschedulable: true }), new Set(['exclude-label'] as const))).toBeUndefined();
    expect(outOfServiceReason(both, new Set())).toBeUndefined();
  });

  test('--out-of-service values', () => {
    expect(parseOutOfServiceCauses('cordoned,exclude-label')).toEqual(new Set(['cordoned', 'exclude-label']));
    expect(parseOutOfServiceCauses(' exclude-label ')).toEqual(new Set(['exclude-label']));
    expect(parseOutOfServiceCauses('none')).toEqual(new Set());
    for (const bad of ['', 'cordon', 'none,cordoned', 'cordoned,drained']) {
      expect(parseOutOfServiceCauses(bad)).toBe(
        `--out-of-service must be "none" or a comma-separated list of cordoned, exclude-label, got "${bad}"`,
      );
    }
  });

  test('a bad --out-of-service is a usage error of the agent command', () => {
    const r = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin/purelb.js'), 'agent', '--node-name', 'n1', '--out-of-service', 'drained'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      'purelb agent: --out-of-service must be "none" or a comma-separated list of cordoned, exclude-label, got "drained" (see purelb agent --help)',
    );
  });

  test('a watched Node keeps only what the agent reads (and the resourceVersion the watch resumes from)', () => {
    const n: V1Node = {
      metadata: {
        name: 'n1',
        uid: 'u1',
        resourceVersion: '42',
        labels: { a: 'b', [EXCLUDE_LB_LABEL]: '' },
        annotations: { x: 'y' },
        managedFields: [{}],
      },
      spec: { unschedulable: true, podCIDR: '10.244.0.0/24', taints: [{ key: 'k', effect: 'NoSchedule' }] },
      status: { images: [{ names: ['big'] }], conditions: [{ type: 'Ready', status: 'True' }] },
    };
    slimNode(n);
    expect(n).toEqual({
      // every label stays: ServiceGroup node selectors read them
      metadata: { name: 'n1', uid: 'u1', resourceVersion: '42', labels: { a: 'b', [EXCLUDE_LB_LABEL]: '' } },
      spec: { unschedulable: true },
    });
    const plain: V1Node = {
      metadata: { name: 'n2', resourceVersion: '7', labels: { a: 'b' } },
      spec: { podCIDR: 'x' },
      status: {},
    };
    slimNode(plain);
    expect(plain).toEqual({
      metadata: { name: 'n2', uid: undefined, resourceVersion: '7', labels: { a: 'b' } },
      spec: {},
    });
    expect(outOfServiceReason(plain, all)).toBeUndefined();
  });
});

const links = parseIpAddrJson(
  JSON.stringify([
    {
      ifname: 'eth0',
      addr_info: [
        { family: 'inet', local: '192.168.1.11', prefixlen: 24 },
        { family: 'inet6', local: 'fd00:1::11', prefixlen: 64 },
      ],
    },
    { ifname: 'kube-lb0', addr_info: [] },
  ]),
);
const beat = (node: string): Heartbeat => ({
  node,
  labels: {},
  subnets: ['192.168.1.0/24', 'fd00:1::/64'].map((s) => parseCIDR(s)!),
  expiresAt: 1e15,
  renewedAt: 0,
});
const svc = (key: string, ips: string[], extra: Partial<ServiceInput> = {}): ServiceInput => ({
  key,
  addresses: ips.map((i) => parseIP(i)!),
  etpLocal: false,
  allocatedFrom: [],
  announcing: {},
  labels: {},
  ...extra,
});
const inputs = (over: Partial<DesiredInputs>): DesiredInputs => ({
  node: 'n1',
  links,
  localCandidates: { 4: ['eth0'], 6: ['eth0'] },
  owned: new Set(),
  extlbint: 'kube-lb0',
  services: [],
  endpoints: new Map(),
  heartbeats: ['n1', 'n2', 'n3'].map(beat),
  labels: {},
  groups: [],
  now: 1000,
  ...over,
});

describe('decisions of an out-of-service node', () => {
  // addresses this node wins while in service, so the difference shows
  const locals = Array.from({ length: 40 }, (_, i) => `192.168.1.${100 + i}`)
    .filter((ip) => electWinner(ip, ['n1', 'n2', 'n3']) === 'n1')
    .slice(0, 3);
  const services = [
    svc('ns/local', [...locals, 'fd00:1::9']),
    svc('ns/virtual', ['10.200.0.5', 'fd00:200::7']),
    svc('ns/etp', ['10.201.0.7'], { etpLocal: true }),
  ];
  const endpoints = new Map([['ns/etp', new Set(['n1'])]]);

  test('in service it holds them all (the baseline)', () => {
    const ds = decideAddresses(inputs({ services, endpoints }));
    expect(locals.length).toBe(3);
    for (const ip of [...locals, '10.200.0.5', 'fd00:200::7', '10.201.0.7'])
      expect(ds.find((d) => d.ip === ip)?.announce).toBe(true);
  });

  test('out of service it holds nothing, and is no candidate even with its own heartbeat live', () => {
    const reason = 'it is cordoned (spec.unschedulable)';
    const ds = decideAddresses(inputs({ services, endpoints, outOfService: reason }));
    expect(ds.filter((d) => d.announce)).toEqual([]);
    for (const d of ds) expect(d.reason).toBe(`node n1 is out of service: ${reason}`);
    // the local addresses go to the winner among the others: the same answer the peers compute without n1's Lease
    for (const ip of [...locals, 'fd00:1::9'])
      expect(ds.find((d) => d.ip === ip)?.winner).toBe(electWinner(ip, ['n2', 'n3']));
    const peer = decideAddresses(inputs({ node: 'n2', services, endpoints, heartbeats: ['n2', 'n3'].map(beat) }));
    for (const ip of locals) expect(peer.find((d) => d.ip === ip)?.winner).toBe(ds.find((d) => d.ip === ip)?.winner);
    // virtual decisions keep their interface and prefix (the plan removes exactly what is there)
    expect(ds.find((d) => d.ip === '10.200.0.5')).toMatchObject({
      kind: 'virtual',
      ifname: 'kube-lb0',
      prefix: 32,
      announce: false,
    });
  });

  test('a peer does not count the out-of-service node once its Lease is gone', () => {
    const ds = decideAddresses(inputs({ node: 'n2', services, heartbeats: ['n2', 'n3'].map(beat) }));
    for (const d of ds.filter((x) => x.kind === 'local')) expect(['n2', 'n3']).toContain(d.winner);
  });
});
