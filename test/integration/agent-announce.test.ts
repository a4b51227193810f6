// The GARP/NA helper (src/agent/announce.py, the long-lived process the agent feeds) on a real bridged
// LAN: an address that stays on the node is announced in three rounds; one that leaves the node after
// the first round (handed over to another node) is not announced again, so the old owner never points
// the LAN back at itself after the new owner announced; the first round of a later address is not held
// back by the rounds still running; and once stdin closes (the agent stopped or was killed) nothing
// more is sent.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { captureAnnouncements, createLan, LAN_V4, LAN_V6, type Lan, type LanNode } from './agent-lan.ts';

let lan: Lan;
let node: LanNode;
const STAYS = [`${LAN_V4}.221`, `${LAN_V6}221`];
const LEAVES = [`${LAN_V4}.222`, `${LAN_V6}222`];
const ip = (...args: string[]) => execFileSync('ip', ['-n', node.netns, ...args]);

beforeAll(async () => {
  lan = await createLan(1, 1); // no agent runs: the API relay is unused
  node = lan.nodes[0]!;
  for (const a of [...STAYS, ...LEAVES])
    ip('addr', 'add', `${a}/${a.includes(':') ? 64 : 24}`, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : []));
}, 30_000);

afterAll(async () => {
  await lan?.destroy();
});

/** The helper as the agent runs it, in the node's namespace, fed through its stdin. */
function startHelper() {
  const p = spawn('ip', ['netns', 'exec', node.netns, 'python3', join(repoRoot, 'src', 'agent', 'announce.py')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.once('exit', resolve));
  return {
    announce: (...addresses: string[]) => p.stdin.write(addresses.map((a) => `eth0 ${a}\n`).join('')),
    async close() {
      p.stdin.end();
      return { code: await exited, out };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('three rounds for an address that stays; an address that left after the first round is not announced again', async () => {
  const capture = await captureAnnouncements(lan, ...STAYS, ...LEAVES);
  const helper = startHelper();
  helper.announce(...STAYS, ...LEAVES);
  await sleep(400); // after the first round, before the second (1 s later)
  for (const a of LEAVES) ip('addr', 'del', `${a}/${a.includes(':') ? 64 : 24}`, 'dev', 'eth0');
  await sleep(2300); // the third round is out
  expect(await helper.close()).toEqual({ code: 0, out: '' });
  const counts = await capture.stop();
  // IPv4: a request and a reply per round; IPv6: one advertisement per round
  expect(counts).toEqual({ [STAYS[0]!]: 6, [STAYS[1]!]: 3, [LEAVES[0]!]: 2, [LEAVES[1]!]: 1 });
  for (const a of LEAVES)
    ip('addr', 'add', `${a}/${a.includes(':') ? 64 : 24}`, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : []));
}, 30_000);

test('a later address goes out at once while earlier rounds run; nothing is sent once stdin closes', async () => {
  const helper = startHelper();
  await sleep(500); // started ahead of need, as the agent does
  const capture = await captureAnnouncements(lan, ...STAYS, ...LEAVES);
  helper.announce(...STAYS);
  await sleep(300);
  helper.announce(...LEAVES); // its first round must not wait for the rounds of STAYS
  await sleep(300);
  const early = await capture.stop();
  expect(early).toEqual({ [STAYS[0]!]: 2, [STAYS[1]!]: 1, [LEAVES[0]!]: 2, [LEAVES[1]!]: 1 });
  // the agent goes away before the next rounds: its helper exits and sends none of them
  const after = await captureAnnouncements(lan, ...STAYS, ...LEAVES);
  expect(await helper.close()).toEqual({ code: 0, out: '' });
  await sleep(2500);
  expect(await after.stop()).toEqual({ [STAYS[0]!]: 0, [STAYS[1]!]: 0, [LEAVES[0]!]: 0, [LEAVES[1]!]: 0 });
}, 30_000);
