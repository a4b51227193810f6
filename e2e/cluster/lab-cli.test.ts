// The `purelb lab` command as a user runs it: up prints the table with the ToR's next hops and the
// requests' spread (answered by real pods), status reprints it, down leaves nothing behind (processes,
// namespaces, links, cgroups, containerd state), also after `up` was killed half-way; and the fast
// all-process mode.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { expect, test } from '@jest/globals';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { isAlive, readState } from '../../src/lab/cluster/processes.ts';
import { clusterDir, labDir, procDir, readLedger, type Ledger } from '../../src/lab/ledger.ts';
import { waitExited, waitFor } from '../harness.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const purelb = (args: string[]) =>
  promisify(execFile)(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), ...args], { timeout: 300_000 });

/** Everything the ledger recorded, to check it is gone after `down`. */
function footprint(name: string): { ledger: Ledger; pids: number[] } {
  const ledger = readLedger(name)!;
  const pids = [procDir(name), clusterDir(name)]
    .filter(existsSync)
    .flatMap((d) => readState(d).processes.map((p) => p.pid));
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
  for (const dir of fp.ledger.dirs) expect(existsSync(dir)).toBe(false);
  for (const cg of fp.ledger.cgroups ?? []) {
    for (const h of readdirSync('/sys/fs/cgroup')) expect(existsSync(join('/sys/fs/cgroup', h, cg))).toBe(false);
  }
}

async function upStatusDown(name: string, extra: string[], answer: (node: string) => string): Promise<void> {
  try {
    const up = await purelb(['lab', 'up', '--name', name, '--nodes', '2', ...extra]);
    expect(up.stderr).toContain('converged: every address is announced by exactly the expected nodes');
    const both = `${name}-node1,${name}-node2`;
    // ETP Cluster virtual address: both nodes announce and are the ToR's next hops; 30 requests reach both
    expect(up.stdout).toMatch(
      new RegExp(`default/web\\s+10\\.200\\.0\\.\\d+\\s+virtual\\s+virtual\\s+Cluster\\s+${both}\\s+-\\s+${both}`),
    );
    expect(up.stdout).toMatch(
      new RegExp(`default/lan-web\\s+192\\.168\\.100\\.\\d+\\s+lan\\s+local\\s+Cluster\\s+${name}-node[12]\\s`),
    );
    const web = /default\/web\s+(10\.200\.0\.\d+)/.exec(up.stdout)![1]!;
    // 30 requests from the client namespace, answered on both nodes
    expect(up.stdout).toMatch(
      new RegExp(
        `http://${web.replaceAll('.', '\\.')}:80/\\s+${answer(`${name}-node1`)}:\\d+ ${answer(`${name}-node2`)}:\\d+\n`,
      ),
    );
    const status = await purelb(['lab', 'status', '--name', name]);
    expect(status.stdout).toMatch(
      new RegExp(
        `default/web\\s+${web.replaceAll('.', '\\.')}\\s+virtual\\s+virtual\\s+Cluster\\s+${both}\\s+-\\s+${both}`,
      ),
    );
    const fp = footprint(name);
    await purelb(['lab', 'down', '--name', name]);
    await expectGone(name, fp);
  } finally {
    await purelb(['lab', 'down', '--name', name]).catch(() => undefined);
  }
}

test('lab up (a real Kubernetes) prints the table with the pods that answered, status reprints it, down removes everything', async () => {
  await upStatusDown(`c${randomBytes(2).toString('hex')}`, [], (node) => `${node}/echo-[a-z0-9-]+`);
}, 600_000);

test("the fast all-process mode (--processes) prints the same table, answered by the nodes' responders", async () => {
  await upStatusDown(`p${randomBytes(2).toString('hex')}`, ['--processes'], (node) => node);
}, 300_000);

test('down cleans up after `lab up` was SIGKILLed half-way', async () => {
  const name = `k${randomBytes(2).toString('hex')}`;
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'purelb.js'), 'lab', 'up', '--name', name], {
    stdio: 'ignore',
  });
  try {
    // kill it once the kubelets run (namespaces, bridge, control plane, containerd and pods exist)
    await waitFor(
      'lab up to start the kubelets',
      async () =>
        existsSync(procDir(name)) && readState(procDir(name)).processes.some((p) => p.name.endsWith('-kubelet')),
      400_000,
    );
    await sleep(5000);
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
}, 600_000);
