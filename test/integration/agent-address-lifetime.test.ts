// The lifetime of local addresses with real agents (the product default, 9 s) in network namespaces on
// one bridged LAN, against the real apiserver: a living agent renews its addresses in place (no removal,
// no gratuitous ARP / NA, across more than two lifetimes), and after a SIGKILL the dead agent's
// addresses leave its node within one lifetime while the successor holds them, so the LAN stops
// getting ARP answers from two nodes.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import type { CoreV1Api } from '@kubernetes/client-node';
import { electWinner } from '../../src/agent/election.ts';

import { cleanUpNamespaces, waitFor } from '../harness/kube.ts';
import {
  agentTestArgs,
  agentTestSetup,
  captureAnnouncements,
  createBrandedService,
  createLan,
  createServiceGroup,
  holderNames,
  LAN_V4,
  LAN_V6,
  startAgentsAndWait,
  waitForSingleHolder,
  type Lan,
  type LanNode,
} from './agent-lan.ts';

/** The agent's default --local-address-lifetime, in seconds. */
const LIFETIME_S = 9;
const V4 = `${LAN_V4}.213`;
const V6 = `${LAN_V6}213`;

let lan: Lan;
let core: CoreV1Api;
let apps: string;
let owner: LanNode;

const names = () => lan.nodes.map((n) => n.name);
const node = (name: string) => lan.nodes.find((n) => n.name === name)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Watches what the node namespace's kernel does to addresses (`ip monitor address`). */
function monitorAddresses(n: LanNode) {
  const child = spawn('ip', ['-n', n.netns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const lines = (ip: string) => out.split('\n').filter((l) => l.includes(` ${ip}/`));
  return { child, lines };
}

/** MACs that answer an ARP request for the address on the LAN (arping from the bridge). */
function arpAnswers(ip: string): string[] {
  let out: string;
  try {
    out = execFileSync('ip', ['netns', 'exec', lan.lanNetns, 'arping', '-c', '3', '-w', '3', '-I', 'br0', ip], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
  } catch (err) {
    out = (err as { stdout?: Buffer }).stdout?.toString() ?? ''; // exit 1 when nobody answers
  }
  return [...new Set([...out.matchAll(/reply from \S+ \[([0-9a-f:]+)\]/gi)].map((m) => m[1]!.toLowerCase()))].sort();
}

beforeAll(async () => {
  const setup = await agentTestSetup({ sendgarp: true });
  ({ core, apps } = setup);
  const subnet = (prefix: string, bits: number) => ({
    subnet: `${prefix}/${bits}`,
    pool: `${prefix}/${bits}`,
    aggregation: 'default',
  });
  await createServiceGroup(setup.custom, setup.install, 'default', {
    local: { v4pools: [subnet(`${LAN_V4}.0`, 24)], v6pools: [subnet(LAN_V6, 64)] },
  });
  lan = await createLan(2, Number(new URL(setup.kc.getCurrentCluster()!.server).port));
  // no --local-address-lifetime: the product default is what is shown here
  await startAgentsAndWait(lan, setup.kc, setup.install, agentTestArgs(setup.install, '--restart-grace=0s'));
  await createBrandedService(core, apps, 'lifetime', [V4, V6]);
  owner = node(electWinner(V4, names())!);
  expect(electWinner(V6, names())).toBe(owner.name); // (chosen so: one owner for both families)
  await waitForSingleHolder(lan, V4, owner.name);
  await waitForSingleHolder(lan, V6, owner.name);
  await sleep(4000); // the owner's first announcement (three of each, 1 s apart) is over
}, 90_000);

afterAll(async () => {
  await lan?.destroy();
  await cleanUpNamespaces();
});

test('a living agent renews its local addresses in place: across more than two lifetimes no removal, no GARP or NA', async () => {
  const placed = lan.addresses(owner, 'eth0').filter((a) => a.ip === V4 || a.ip === V6);
  // both carry the lifetime (nothing permanent a dead agent could leave behind)
  expect(placed.map((a) => [a.ip, a.validLft !== undefined && a.validLft <= LIFETIME_S])).toEqual([
    [V4, true],
    [V6, true],
  ]);
  const monitor = monitorAddresses(owner);
  const capture = await captureAnnouncements(lan, V4, V6);
  const missing: string[] = [];
  try {
    const end = Date.now() + 2.5 * LIFETIME_S * 1000;
    while (Date.now() < end) {
      const now = lan.addresses(owner, 'eth0').map((a) => a.ip);
      for (const ip of [V4, V6]) if (!now.includes(ip)) missing.push(`${ip} at ${new Date().toISOString()}`);
      await sleep(500);
    }
  } finally {
    monitor.child.kill('SIGKILL');
  }
  const announced = await capture.stop();
  expect(missing).toEqual([]);
  for (const ip of [V4, V6]) {
    const events = monitor.lines(ip);
    expect(events.filter((l) => l.startsWith('Deleted'))).toEqual([]);
    // every third of the lifetime one renewal: about 7 in 25 s (the monitor works: it sees them)
    expect(events.length).toBeGreaterThanOrEqual(4);
  }
  expect(announced).toEqual({ [V4]: 0, [V6]: 0 });
  expect(holderNames(lan, V4, 'eth0')).toEqual([owner.name]);
}, 60_000);

test("after a SIGKILL the dead agent's addresses leave its node within the lifetime, while the successor holds them", async () => {
  const successor = lan.nodes.find((n) => n !== owner)!;
  const capture = await captureAnnouncements(lan, V4, V6);
  await lan.stopAgent(owner, 'SIGKILL');
  const killedAt = Date.now();
  await waitFor(`${V4} and ${V6} on ${successor.name}`, async () => {
    const now = lan.addresses(successor, 'eth0').map((a) => a.ip);
    return now.includes(V4) && now.includes(V6);
  });
  // gone from the dead agent's node within the lifetime (plus the kernel's ~1 s expiry granularity and a
  // margin for a loaded machine), with no agent left there to remove them
  const bound = (LIFETIME_S + 3) * 1000;
  await waitFor(
    `${V4} and ${V6} expired on ${owner.name}`,
    async () => !lan.addresses(owner, 'eth0').some((a) => a.ip === V4 || a.ip === V6),
    Math.max(0, bound - (Date.now() - killedAt)),
  );
  expect(holderNames(lan, V4, 'eth0')).toEqual([successor.name]);
  expect(holderNames(lan, V6, 'eth0')).toEqual([successor.name]);
  // the LAN now gets one ARP answer: the successor's (it announced itself; the capture works)
  expect(arpAnswers(V4)).toEqual([successor.mac]);
  const announced = await capture.stop();
  expect(announced[V4]).toBeGreaterThan(0);
  expect(announced[V6]).toBeGreaterThan(0);
}, 60_000);
