// The successor's LAN probe with real agents in network namespaces against the real apiserver, with the
// product's heartbeat timings (Lease renewed every 10 s, valid 40 s): a killed owner's local address is
// taken over in seconds, long before its Lease expires, through a claim stored in the API; a restart
// within the restart grace moves nothing although nothing answers meanwhile; an owner whose probe port is
// filtered (dropped, or rejected as a closed port is) loses its address once (it sees the claim and
// withdraws) and never takes it back.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { CoordinationV1Api, type CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ANN } from '../../src/api/annotations.ts';

import { announcingNode } from '../../src/agent/election.ts';
import { cleanUpNamespaces, waitFor } from '../harness/kube.ts';
import {
  agentLogTail,
  agentTestArgs,
  agentTestSetup,
  createBrandedService,
  createLan,
  createServiceGroup,
  holderNames,
  LAN_V4,
  startAgentsAndWait,
  waitForSingleHolder,
  type Lan,
  type LanNode,
} from './agent-lan.ts';

const ADDRESS = `${LAN_V4}.214`;
const LEASE_S = 40;

let kc: KubeConfig;
let core: CoreV1Api;
let lan: Lan;
let install: string;
let apps: string;
let args: string[];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logs = () => lan.nodes.map((n) => `--- ${n.name}\n${agentLogTail(n, 8)}`).join('\n');

/** The node the Service's announcing annotation names. */
async function announcer(): Promise<LanNode> {
  const svc = await core.readNamespacedService({ namespace: apps, name: 'probed' });
  const name = announcingNode(svc.metadata?.annotations?.[ANN.announcingIPv4]);
  return lan.nodes.find((n) => n.name === name)!;
}

/** The node holding the address, once exactly one does and the annotation agrees. */
async function settledOwner(): Promise<LanNode> {
  let owner: LanNode | undefined;
  await waitFor(
    'one holder named by the annotation',
    async () => {
      const held = holderNames(lan, ADDRESS, 'eth0');
      owner = await announcer();
      return held.length === 1 && held[0] === owner?.name;
    },
    20_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logs()}`);
  });
  return owner!;
}

/** Samples the holders every 100 ms for `ms`: every distinct holder set seen. */
async function holdersDuring(ms: number): Promise<string[]> {
  const seen = new Set<string>();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seen.add(holderNames(lan, ADDRESS, 'eth0').join(',') || 'none');
    await sleep(100);
  }
  return [...seen];
}

beforeAll(async () => {
  let custom;
  ({ kc, core, custom, install, apps } = await agentTestSetup());
  await createServiceGroup(custom, install, 'default', {
    local: { v4pools: [{ subnet: `${LAN_V4}.0/24`, pool: `${LAN_V4}.0/24`, aggregation: 'default' }] },
  });
  lan = await createLan(3, Number(new URL(kc.getCurrentCluster()!.server).port));
  // the product's heartbeat timings and probes (the test defaults are faster), restart grace on
  args = agentTestArgs(install, '--heartbeat-renew', '10s', '--heartbeat-duration', `${LEASE_S}s`);
  await startAgentsAndWait(lan, kc, install, args);
  await createBrandedService(core, apps, 'probed', [ADDRESS]);
  await settledOwner();
  await sleep(2000); // the successors have had answers from the owner
}, 90_000);

afterAll(async () => {
  await lan?.destroy();
  await cleanUpNamespaces();
});

test('a restart within the restart grace moves nothing, although the owner answers no probe meanwhile', async () => {
  const owner = await settledOwner();
  await lan.stopAgent(owner, 'SIGTERM');
  const during = holdersDuring(5000); // 5 times the time after which a silent owner is taken over
  expect(await during).toEqual([owner.name]);
  await lan.startAgent(owner, args);
  expect(await holdersDuring(4000)).toEqual([owner.name]);
  expect((await announcer()).name).toBe(owner.name);
}, 60_000);

test.each([
  { rule: 'DROP', why: 'it does not answer on the LAN' },
  { rule: 'REJECT', why: 'its health port refuses' },
])(
  'an owner whose probe port is filtered ($rule) loses the address once, to a stored claim, and does not take it back',
  async ({ rule, why }) => {
    const owner = await settledOwner();
    const iptables = (op: '-I' | '-D') =>
      execFileSync('ip', `netns exec ${owner.netns} iptables ${op} INPUT -p tcp --dport 7473 -j ${rule}`.split(' '));
    iptables('-I');
    try {
      await waitFor(
        'another node named by the annotation',
        async () => (await announcer()).name !== owner.name,
        15_000,
      );
      const successor = await announcer();
      await waitForSingleHolder(lan, ADDRESS, successor.name);
      // the successor names the cause: a dropped probe is silence (claim first); a rejected one is refused
      // as by a port nobody listens on (add first, claim after)
      expect(agentLogTail(successor, 200)).toContain(why);
      // the old owner probes the new one fine (only its own port is filtered): nothing moves back
      expect(await holdersDuring(5000)).toEqual([successor.name]);
      expect((await announcer()).name).toBe(successor.name);
    } finally {
      iptables('-D');
    }
  },
  60_000,
);

test('a killed owner is replaced through the probe in seconds, while its Lease is still valid for tens of seconds', async () => {
  const owner = await settledOwner();
  await lan.stopAgent(owner, 'SIGKILL');
  const killedAt = Date.now();
  await waitFor(
    'another node named by the annotation',
    async () => (await announcer()).name !== owner.name,
    15_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logs()}`);
  });
  const successor = await announcer();
  await waitFor(`${ADDRESS} on ${successor.name}`, async () =>
    holderNames(lan, ADDRESS, 'eth0').includes(successor.name),
  );
  const tookMs = Date.now() - killedAt;
  // the dead owner's Lease was still valid: the takeover came from the probe, not from its expiry
  const lease = await kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: install, name: `purelb-node-${owner.name}` });
  const validUntil = new Date(lease.spec!.renewTime!).getTime() + lease.spec!.leaseDurationSeconds! * 1000;
  expect(validUntil).toBeGreaterThan(Date.now());
  expect(tookMs).toBeLessThan(LEASE_S * 1000);
  expect(agentLogTail(successor, 200)).toContain('its agent is gone (its health port refuses)');
}, 60_000);
