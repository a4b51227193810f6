// The node agent as a container runtime runs it without `privileged`: /proc/sys read-only (EROFS on
// any write, NET_ADMIN or not), in a node whose net.ipv4.conf.{all,default}.promote_secondaries are 0.
// It must start, place addresses, warn once (log and Node event) naming the host sysctl, and when the
// primary address of a shared /24 on kube-lb0 goes, keep the other Services' addresses of that /24,
// which the kernel deletes together with the primary.

import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { cleanUpNamespaces, waitFor } from '../harness/kube.ts';
import {
  agentTestArgs,
  agentLogTail,
  agentTestSetup,
  createBrandedService,
  createLan,
  createServiceGroup,
  sysctl,
  type Lan,
  type LanNode,
} from './agent-lan.ts';

let kc: KubeConfig;
let core: CoreV1Api;
let lan: Lan;
let node: LanNode;
let install: string;
let apps: string;
const startedAt = Date.now();

const kubeLb0 = () => lan.addresses(node, 'kube-lb0').filter((a) => a.family === 4);
const has = (ip: string) => kubeLb0().some((a) => a.ip === ip && a.prefix === 24);
const readSysctl = (path: string) =>
  execFileSync('ip', ['netns', 'exec', node.netns, 'cat', `/proc/sys/${path}`])
    .toString()
    .trim();
const withLog = (err: Error) => {
  throw new Error(`${err.message}\n--- agent log\n${agentLogTail(node, 20)}`);
};

beforeAll(async () => {
  let custom: CustomObjectsApi;
  ({ kc, core, custom, install, apps } = await agentTestSetup());
  await createServiceGroup(custom, install, 'virt', {
    local: { v4pools: [{ subnet: '10.200.0.0/24', pool: '10.200.0.0/24', aggregation: 'default' }] },
  });
  lan = await createLan(1, Number(new URL(kc.getCurrentCluster()!.server).port));
  node = lan.nodes[0]!;
  // kube-lb0 does not exist yet: the agent creates it, and it inherits `default`
  sysctl(node.netns, 'net.ipv4.conf.all.promote_secondaries=0', 'net.ipv4.conf.default.promote_secondaries=0');
  await lan.startAgent(node, agentTestArgs(install), { readOnlyProcSys: true });
  await waitFor(
    'heartbeat Lease of the agent',
    async () =>
      (await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: install })).items.some(
        (l) => l.metadata?.name === `purelb-node-${node.name}`,
      ),
    30_000,
  ).catch(withLog);
}, 90_000);

afterAll(async () => {
  await lan?.destroy();
  await cleanUpNamespaces();
});

describe('node agent with a read-only /proc/sys and promote_secondaries off', () => {
  test('starts without privileges beyond the mount, creates kube-lb0, warns once naming the host sysctl', async () => {
    const pid = node.agent!.pid!;
    // really read-only for the agent, and no write got through
    expect(
      readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .find((l) => l.split(' ')[4] === '/proc/sys'),
    ).toMatch(/ \/proc\/sys ro[, ]/);
    // created before the first heartbeat, which beforeAll waited for (this throws if it is missing)
    execFileSync('ip', ['-n', node.netns, 'link', 'show', 'kube-lb0'], { stdio: 'ignore' });
    expect(readSysctl('net/ipv4/conf/kube-lb0/promote_secondaries')).toBe('0');
    expect(readSysctl('net/ipv4/conf/all/promote_secondaries')).toBe('0');
    expect(node.agent!.exitCode).toBeNull();
    const warnings = readFileSync(node.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"promote_secondaries is off'))
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(warnings).toEqual([
      expect.objectContaining({
        level: 'warn',
        interface: 'kube-lb0',
        sysctl: 'net.ipv4.conf.all.promote_secondaries=1',
        error: expect.stringContaining('EROFS'),
      }),
    ]);
    const events = kc.makeApiClient(EventsV1Api);
    const nodeEvents = await waitFor('PromoteSecondariesOff event on the Node', async () => {
      const found = (await events.listNamespacedEvent({ namespace: 'default' })).items.filter(
        (e) =>
          e.reason === 'PromoteSecondariesOff' &&
          e.regarding?.kind === 'Node' &&
          e.regarding.name === node.name &&
          e.reportingInstance === `purelb-lbnodeagent-${node.name}` &&
          (!e.eventTime || new Date(e.eventTime).getTime() >= startedAt - 5000),
      );
      return found.length ? found : undefined;
    });
    expect(nodeEvents).toHaveLength(1);
    expect(nodeEvents[0]!.type).toBe('Warning');
    expect(nodeEvents[0]!.note).toContain('net.ipv4.conf.all.promote_secondaries=1');
  });

  test("removing the primary of a shared /24 on kube-lb0 keeps the other Services' addresses of that /24", async () => {
    // the first address of the /24 becomes the primary, the later ones its secondaries
    await createBrandedService(core, apps, 'first', ['10.200.0.5'], { group: 'virt' });
    await waitFor('10.200.0.5/24 on kube-lb0', async () => has('10.200.0.5')).catch(withLog);
    await createBrandedService(core, apps, 'second', ['10.200.0.6'], { group: 'virt' });
    await createBrandedService(core, apps, 'third', ['10.200.0.7'], { group: 'virt' });
    await waitFor(
      '10.200.0.6/24 and 10.200.0.7/24 on kube-lb0',
      async () => has('10.200.0.6') && has('10.200.0.7'),
    ).catch(withLog);
    expect(kubeLb0().map((a) => `${a.ip} ${a.secondary ? 'secondary' : 'primary'}`)).toEqual([
      '10.200.0.5 primary',
      '10.200.0.6 secondary',
      '10.200.0.7 secondary',
    ]);

    const monitor = spawn('ip', ['-n', node.netns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let events = '';
    monitor.stdout.on('data', (d: Buffer) => (events += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 300)); // the monitor is listening
      await core.deleteNamespacedService({ name: 'first', namespace: apps });
      await waitFor('10.200.0.5 withdrawn', async () => !kubeLb0().some((a) => a.ip === '10.200.0.5'), 15_000).catch(
        withLog,
      );
      // the moment the primary is gone, the others are there again: they came back in the same batch
      expect(
        kubeLb0()
          .map((a) => `${a.ip}/${a.prefix}`)
          .sort(),
      ).toEqual(['10.200.0.6/24', '10.200.0.7/24']);
      expect(
        kubeLb0()
          .filter((a) => !a.secondary)
          .map((a) => a.ip),
      ).toEqual(['10.200.0.6']); // the kernel's own choice
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      monitor.kill('SIGKILL');
    }
    // the kernel did take them with the primary (promotion really is off), and the agent put them back
    const lines = events.split('\n');
    for (const ip of ['10.200.0.6', '10.200.0.7']) {
      expect(lines.findIndex((l) => l.startsWith('Deleted') && l.includes(` ${ip}/24`))).toBeLessThan(
        lines.findLastIndex((l) => !l.startsWith('Deleted') && l.includes(` ${ip}/24`)),
      );
    }
    expect(readFileSync(node.logFile, 'utf8')).toMatch(
      /"put back addresses the kernel removed[^\n]*"addresses":\["10\.200\.0\.6\/24","10\.200\.0\.7\/24"\]/,
    );
    // still owned (a later withdrawal removes them), still reported, and stable over a resync
    const state = JSON.parse(readFileSync(node.stateFile, 'utf8')) as { addresses: string[] };
    expect(state.addresses).toEqual(expect.arrayContaining(['kube-lb0 10.200.0.6/24', 'kube-lb0 10.200.0.7/24']));
    expect(state.addresses).not.toContain('kube-lb0 10.200.0.5/24');
    await new Promise((r) => setTimeout(r, 5500));
    expect(
      kubeLb0()
        .map((a) => `${a.ip}/${a.prefix}`)
        .sort(),
    ).toEqual(['10.200.0.6/24', '10.200.0.7/24']);
    expect(node.agent!.exitCode).toBeNull();
    // no second warning for the same interface
    expect(
      readFileSync(node.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"promote_secondaries is off')),
    ).toHaveLength(1);
  });

  test('withdrawing the last addresses of the /24 leaves nothing behind', async () => {
    await core.deleteNamespacedService({ name: 'second', namespace: apps });
    await core.deleteNamespacedService({ name: 'third', namespace: apps });
    await waitFor('kube-lb0 empty of IPv4', async () => kubeLb0().length === 0, 15_000).catch(withLog);
    expect(readFileSync(node.logFile, 'utf8')).not.toMatch(/kernel refused an address change/);
  });
});
