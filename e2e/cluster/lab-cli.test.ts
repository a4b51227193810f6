// The `purelb lab` command as a user runs it: up prints the table with the ToR's next hops and the
// requests' spread, status reprints it, down leaves nothing behind, also after `up` was killed half-way.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { expect, test } from '@jest/globals';
import { repoRoot } from '../src/lab/cluster/binaries.ts';
import { isAlive, readState } from '../src/lab/cluster/processes.ts';
import { clusterDir, labDir, procDir, readLedger, type Ledger } from '../src/lab/ledger.ts';
import { waitExited, waitFor } from './harness.ts';

const purelb = (args: string[]) => promisify(execFile)(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), ...args], { timeout: 300_000 });

/** Everything the ledger recorded, to check it is gone after `down`. */
function footprint(name: string): { ledger: Ledger; pids: number[] } {
  const ledger = readLedger(name)!;
  const pids = [procDir(name), clusterDir(name)].filter(existsSync).flatMap((d) => readState(d).processes.map((p) => p.pid));
  return { ledger, pids };
}

async function expectGone(name: string, fp: { ledger: Ledger; pids: number[] }): Promise<void> {
  expect(fp.ledger.netns.length).toBeGreaterThan(0);
  for (const ns of fp.ledger.netns) expect(existsSync(`/run/netns/${ns}`)).toBe(false);
  const links = readFileSync('/proc/net/dev', 'utf8');
  for (const link of fp.ledger.hostLinks) expect(links).not.toContain(`${link}:`);
  // killed processes may stay zombies for a moment until init reaps them; waitExited counts those as gone
  for (const pid of fp.pids) await waitExited(pid);
  expect(existsSync(labDir(name))).toBe(false);
}

test('lab up prints the table (ToR ECMP next hops, spread), status reprints it, down removes everything', async () => {
  const name = `c${randomBytes(2).toString('hex')}`;
  try {
    const up = await purelb(['lab', 'up', '--name', name, '--nodes', '2']);
    expect(up.stderr).toContain('converged: every address is announced by exactly the expected nodes');
    const both = `${name}-node1,${name}-node2`;
    // ETP Cluster virtual address: both nodes announce and are the ToR's next hops; 30 requests reach both
    expect(up.stdout).toMatch(new RegExp(`default/web\\s+10\\.200\\.0\\.\\d+\\s+virtual\\s+virtual\\s+Cluster\\s+${both}\\s+${both}`));
    expect(up.stdout).toMatch(new RegExp(`default/lan-web\\s+192\\.168\\.100\\.\\d+\\s+lan\\s+local\\s+Cluster\\s+${name}-node[12]\\s`));
    const web = /default\/web\s+(10\.200\.0\.\d+)/.exec(up.stdout)![1]!;
    // 30 requests from the client namespace, each answered by a node: both nodes answered some
    expect(up.stdout).toMatch(new RegExp(`http://${web.replaceAll('.', '\\.')}:80/\\s+${name}-node1:\\d+ ${name}-node2:\\d+\n`));
    const status = await purelb(['lab', 'status', '--name', name]);
    expect(status.stdout).toMatch(new RegExp(`default/web\\s+${web.replaceAll('.', '\\.')}\\s+virtual\\s+virtual\\s+Cluster\\s+${both}\\s+${both}`));
    const fp = footprint(name);
    await purelb(['lab', 'down', '--name', name]);
    await expectGone(name, fp);
  } finally {
    await purelb(['lab', 'down', '--name', name]).catch(() => undefined);
  }
}, 300_000);

test('down cleans up after `lab up` was SIGKILLed half-way', async () => {
  const name = `k${randomBytes(2).toString('hex')}`;
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), 'lab', 'up', '--name', name], { stdio: 'ignore' });
  try {
    // kill it once the routing daemons run (namespaces, bridge, apiserver and processes exist)
    await waitFor('lab up to start the routing daemons', async () => existsSync(procDir(name)) && readState(procDir(name)).processes.some((p) => p.name.endsWith('-bird')), 120_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const fp = footprint(name);
    expect(fp.pids.filter(isAlive).length).toBeGreaterThan(0);
    const down = await purelb(['lab', 'down', '--name', name]);
    expect(down.stderr).toContain('stopping');
    await expectGone(name, fp);
  } finally {
    child.kill('SIGKILL');
    await purelb(['lab', 'down', '--name', name]).catch(() => undefined);
  }
}, 300_000);
