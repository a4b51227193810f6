// FRR daemons started directly inside a network namespace, for the lab's ToR and nodes and for the
// test Topology: no watchfrr and nothing written under /etc/frr. Every daemon runs in the foreground
// (dropping to user frr) with its vty socket, zserv socket and pid file in one directory, so several
// instances run side by side. The owner (the lab's run dir, or a Topology) records and stops them.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../exec.ts';
import { waitForFile } from './wait.ts';

export type FrrDaemon = 'bgpd' | 'ospfd' | 'ospf6d' | 'bfdd';

/** Starts a process inside a namespace and stops it again; who owns it records it. */
export interface ProcessOwner {
  start(name: string, netns: string, exe: string, args: string[]): ChildProcess;
  stop(child: ChildProcess): Promise<void>;
}

export interface FrrInstance {
  netns: string;
  /** Config dir and vty socket dir (pass both to vtysh / frr-reload.py). */
  dir: string;
  /** One vtysh command; throws with FRR's complaint when it fails. */
  vtysh(command: string): Promise<string>;
  json<T>(command: string): Promise<T>;
  /** Stops the daemons started here (the owner's cleanup does it too). */
  stop(): Promise<void>;
}

export interface FrrOptions {
  /** Written to <dir>/frr.conf and loaded at start (nodes start empty: the agent writes their config). */
  config?: string;
  /** bgpd accepts sessions on port 179 (a ToR), or only connects out (`-p 0`, a lab node). */
  bgpListen?: boolean;
}

const FRR_LIB = '/usr/lib/frr';

const daemonArgs = (dir: string, d: string, bgpListen: boolean) => [
  '-F',
  'traditional',
  '-A',
  '127.0.0.1',
  '-P',
  '0',
  '--vty_socket',
  dir,
  '-z',
  join(dir, 'zserv.api'),
  '-i',
  join(dir, `${d}.pid`),
  ...(d === 'bgpd' && !bgpListen ? ['-p', '0'] : []),
];

/** The daemons drop to user frr (root is not in frrvty): their directory must be theirs. */
async function frrOwnedDir(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // frr-reload.py and vtysh -b read <dir>/vtysh.conf; an empty one means defaults
  if (!existsSync(join(dir, 'vtysh.conf'))) writeFileSync(join(dir, 'vtysh.conf'), '');
  await run('chown', ['-R', 'frr:frr', dir]);
}

/** Starts one daemon (a stale vty socket of a killed predecessor is removed first) and waits for its vty. */
async function startDaemon(
  owner: ProcessOwner,
  name: string,
  netns: string,
  dir: string,
  d: string,
  bgpListen: boolean,
): Promise<ChildProcess> {
  rmSync(join(dir, `${d}.vty`), { force: true });
  if (d === 'zebra') rmSync(join(dir, 'zserv.api'), { force: true });
  const child = owner.start(`${name}-${d}`, netns, join(FRR_LIB, d), daemonArgs(dir, d, bgpListen));
  await waitForFile(join(dir, `${d}.vty`), `${d} of ${name}`);
  return child;
}

/** Loads <dir>/frr.conf into the running daemons, as FRR does at start. */
const boot = (dir: string) => run('vtysh', ['--vty_socket', dir, '--config_dir', dir, '-b']);

/** Starts zebra + `daemons` in `netns`, then loads `config` when given. */
export async function startFrr(
  owner: ProcessOwner,
  name: string,
  netns: string,
  dir: string,
  daemons: FrrDaemon[],
  opts: FrrOptions = {},
): Promise<FrrInstance> {
  await frrOwnedDir(dir);
  const children: ChildProcess[] = [];
  for (const d of ['zebra', ...daemons]) {
    children.push(await startDaemon(owner, name, netns, dir, d, opts.bgpListen ?? false));
  }
  if (opts.config !== undefined) {
    writeFileSync(join(dir, 'frr.conf'), opts.config);
    await boot(dir);
  }
  const vtysh = (command: string) => run('vtysh', ['--vty_socket', dir, '-c', command]);
  return {
    netns,
    dir,
    vtysh,
    json: async <T>(command: string) => JSON.parse((await vtysh(command)) || '{}') as T,
    // daemons first, zebra last (they deregister from it)
    stop: async () => {
      for (const c of children.slice(1)) await owner.stop(c);
      await owner.stop(children[0]!);
    },
  };
}

/** Restarts one killed daemon of a node and boots it from <dir>/frr.conf when there is one. */
export async function restartFrrDaemon(
  owner: ProcessOwner,
  name: string,
  netns: string,
  dir: string,
  d: FrrDaemon,
): Promise<void> {
  await startDaemon(owner, name, netns, dir, d, false);
  if (existsSync(join(dir, 'frr.conf'))) await boot(dir);
}
