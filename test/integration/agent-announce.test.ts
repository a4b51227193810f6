// The GARP/NA helper (src/agent/announce.py through announceAddresses) on a real bridged LAN: an
// address that stays on the node is announced in three rounds, one that leaves the node after the
// first round (handed over to another node) is not announced again, so the old owner never points
// the LAN back at itself after the new owner announced.
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

test('three rounds for an address that stays; an address that left after the first round is not announced again', async () => {
  const capture = await captureAnnouncements(lan, ...STAYS, ...LEAVES);
  // the helper as the agent runs it, in the node's namespace
  const helper = join(repoRoot, 'src', 'agent', 'announce.py');
  const input = [...STAYS, ...LEAVES].map((a) => `eth0 ${a}\n`).join('');
  const run = new Promise<void>((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', node.netns, 'python3', helper], { stdio: ['pipe', 'ignore', 'inherit'] });
    p.stdin.end(input);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`announce.py exited ${code}`))));
  });
  await new Promise((r) => setTimeout(r, 400)); // after the first round, before the second (1 s later)
  for (const a of LEAVES) ip('addr', 'del', `${a}/${a.includes(':') ? 64 : 24}`, 'dev', 'eth0');
  await run;
  const counts = await capture.stop();
  // IPv4: a request and a reply per round; IPv6: one advertisement per round
  expect(counts).toEqual({ [STAYS[0]!]: 6, [STAYS[1]!]: 3, [LEAVES[0]!]: 2, [LEAVES[1]!]: 1 });
}, 30_000);
