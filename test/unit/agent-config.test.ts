import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { parseDuration } from '../../src/cli/options.ts';
import { validateObject } from '../../src/api/validate.ts';
import { parseLBNodeAgent } from '../../src/api/validate-lbnodeagent.ts';
import { nodesWithEndpoints, serviceInput } from '../../src/model/services.ts';

const lbna = (local: Record<string, unknown>) => ({
  apiVersion: 'purelb.io/v1',
  kind: 'LBNodeAgent',
  metadata: { name: 'default', namespace: 'purelb' },
  spec: { local },
});

describe('LBNodeAgent', () => {
  test('defaults: localint default, extlbint kube-lb0, sendgarp false', () => {
    expect(parseLBNodeAgent(lbna({}))).toEqual({
      config: { localint: 'default', extlbint: 'kube-lb0', sendgarp: false },
      problems: [],
    });
  });
  test('a regex localint is compiled; PureLB v1 manifests parse unchanged', () => {
    const { config, problems } = parseLBNodeAgent(
      lbna({ localint: '^enp[0-9]s0$', extlbint: 'kube-lb0', sendgarp: true }),
    );
    expect(problems).toEqual([]);
    expect((config.localint as RegExp).test('enp1s0')).toBe(true);
    expect(config.sendgarp).toBe(true);
  });
  test('problems name the object and field, and say how to fix it', () => {
    const problems = validateObject(lbna({ localint: '(', extlbint: 'kube lb0 with spaces', sendgarp: 'yes' }));
    expect(problems.map((p) => [p.object, p.field])).toEqual([
      ['LBNodeAgent purelb/default', 'spec.local.localint'],
      ['LBNodeAgent purelb/default', 'spec.local.extlbint'],
      ['LBNodeAgent purelb/default', 'spec.local.sendgarp'],
    ]);
    expect(problems[0]!.message).toMatch(/not a valid regular expression/);
  });
});

describe('Services and EndpointSlices', () => {
  const svc = (annotations: Record<string, string>, ingress: string[]) => ({
    metadata: { namespace: 'ns', name: 's', annotations },
    spec: { externalTrafficPolicy: 'Local' },
    status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } },
  });
  test('only branded Services with an ingress address; addresses canonical and unique', () => {
    expect(serviceInput(svc({}, ['10.0.0.1']))).toBeUndefined();
    expect(serviceInput(svc({ 'purelb.io/allocated-by': 'PureLB' }, []))).toBeUndefined();
    const s = serviceInput(
      svc({ 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'a, b' }, [
        'fd00:0::1',
        'fd00::1',
        '10.0.0.1',
      ]),
    )!;
    expect(s.addresses.length).toBe(2);
    expect(s).toMatchObject({ key: 'ns/s', etpLocal: true, allocatedFrom: ['a', 'b'] });
  });
  test('ready or serving endpoints count; missing ready means ready', () => {
    const slice = (endpoints: object[]) => ({
      metadata: { namespace: 'ns', labels: { 'kubernetes.io/service-name': 's' } },
      addressType: 'IPv4',
      endpoints,
    });
    const nodes = nodesWithEndpoints([
      slice([
        { addresses: ['1.1.1.1'], nodeName: 'a', conditions: { ready: true } },
        { addresses: ['1.1.1.2'], nodeName: 'b', conditions: { ready: false } },
      ]),
      slice([
        { addresses: ['1.1.1.3'], nodeName: 'c', conditions: { ready: false, serving: true } },
        { addresses: ['1.1.1.4'], nodeName: 'd', conditions: {} },
      ]),
    ] as never);
    expect([...nodes.get('ns/s')!].sort()).toEqual(['a', 'c', 'd']);
  });
});

test('durations', () => {
  expect(parseDuration('700ms', 'x')).toBe(700);
  expect(parseDuration('2s', 'x')).toBe(2000);
  expect(parseDuration('1m', 'x')).toBe(60_000);
  expect(parseDuration('3', 'x')).toBe(3000);
  expect(() => parseDuration('fast', 'heartbeat-renew')).toThrow(/--heartbeat-renew must be a duration/);
});

test('a bad agent command line is a usage error (exit 2, one line), not a crash with a stack trace', () => {
  const r = spawnSync(
    process.execPath,
    [
      join(repoRoot, 'bin/purelb.js'),
      'agent',
      '--node-name',
      'n1',
      '--heartbeat-renew',
      '5s',
      '--heartbeat-duration',
      '2s',
    ],
    { encoding: 'utf8' },
  );
  expect(r.status).toBe(2);
  expect(r.stderr.trim()).toBe(
    'purelb agent: --heartbeat-renew (5000 ms) must be shorter than --heartbeat-duration (2000 ms) (see purelb agent --help)',
  );
});

test('the local address lifetime is whole seconds, at least 3 s, or 0; the resync is no longer tied to it', () => {
  const agent = (...args: string[]) =>
    spawnSync(process.execPath, [join(repoRoot, 'bin/purelb.js'), 'agent', '--node-name', 'n1', ...args], {
      encoding: 'utf8',
    });
  for (const bad of ['2s', '1500ms', '4500ms']) {
    const r = agent('--local-address-lifetime', bad);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `purelb agent: --local-address-lifetime must be whole seconds, at least 3s (the kernel's valid_lft is in seconds and the agent renews every third of it), or 0 for permanent; got "${bad}" (see purelb agent --help)`,
    );
  }
  // accepted (the next check, the missing node IP, shows validation went past the lifetime), with a
  // resync far longer than the lifetime: the renewal does not wait for it
  for (const ok of ['3s', '0', '10s']) {
    const r = agent('--local-address-lifetime', ok, '--resync', '5m');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the node IP is missing/);
  }
});
