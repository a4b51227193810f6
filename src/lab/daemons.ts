// Routing daemons of the lab, each a foreground process inside a network namespace, recorded by pid
// in the lab's run dir: FRR (zebra + the protocol daemons, no watchfrr, vty sockets in a private dir,
// nothing written under /etc/frr), BIRD and gobgpd.
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startOwned } from './cluster/processes.ts';
import { run } from './exec.ts';

const FRR_LIB = '/usr/lib/frr';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForFile(path: string, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${what}: ${path} did not appear within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** FRR daemons drop to user frr: their state dir must belong to it. */
function frrOwnedDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const uid = Number(execFileSync('id', ['-u', 'frr'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'frr'], { encoding: 'utf8' }).trim());
  // frr-reload.py and vtysh -b read <dir>/vtysh.conf; an empty one means defaults
  if (!existsSync(join(dir, 'vtysh.conf'))) writeFileSync(join(dir, 'vtysh.conf'), '');
  chownSync(dir, uid, gid);
}

export interface FrrInstance {
  netns: string;
  /** vty sockets, zserv.api, pid files and logs */
  dir: string;
  /** `vtysh` inside the namespace, against this instance */
  vtysh(args: string[]): Promise<string>;
}

const frrArgs = (dir: string, d: string, bgpListen: boolean) => [
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

const frrVtysh = (netns: string, dir: string) => (args: string[]) =>
  run('ip', ['netns', 'exec', netns, 'vtysh', '--vty_socket', dir, ...args]);

/** Starts one FRR daemon (a stale vty socket of a killed predecessor is removed first). */
async function spawnFrrDaemon(
  procDir: string,
  name: string,
  netns: string,
  dir: string,
  d: string,
  bgpListen: boolean,
): Promise<void> {
  rmSync(join(dir, `${d}.vty`), { force: true });
  if (d === 'zebra') rmSync(join(dir, 'zserv.api'), { force: true });
  startOwned(procDir, `${name}-${d}`, join(FRR_LIB, d), frrArgs(dir, d, bgpListen), process.env, {
    detached: true,
    netns,
  });
  await waitForFile(join(dir, `${d}.vty`), `${name} ${d}`);
}

/**
 * Starts zebra + `daemons` (e.g. bgpd, ospfd) in `netns`, then loads `config` (when given) with
 * `vtysh -f`. `bgpListen`: bgpd accepts sessions on port 179 (the ToR) or only connects out (nodes).
 */
export async function startFrr(
  procDir: string,
  name: string,
  netns: string,
  dir: string,
  daemons: string[],
  opts: { config?: string; bgpListen?: boolean } = {},
): Promise<FrrInstance> {
  frrOwnedDir(dir);
  for (const d of ['zebra', ...daemons]) await spawnFrrDaemon(procDir, name, netns, dir, d, opts.bgpListen ?? false);
  const inst: FrrInstance = { netns, dir, vtysh: frrVtysh(netns, dir) };
  if (opts.config !== undefined) {
    const file = join(dir, 'frr.conf');
    writeFileSync(file, opts.config);
    await inst.vtysh(['-f', file]);
  }
  return inst;
}

/** Restarts one killed FRR daemon of a node and boots it from <dir>/frr.conf, as FRR does at start. */
export async function restartFrrDaemon(
  procDir: string,
  name: string,
  netns: string,
  dir: string,
  d: string,
): Promise<void> {
  await spawnFrrDaemon(procDir, name, netns, dir, d, false);
  if (existsSync(join(dir, 'frr.conf'))) await frrVtysh(netns, dir)(['--config_dir', dir, '-b']);
}

/** BIRD in the foreground (-f) with its control socket in `dir`; the routing controller writes bird.conf. */
export async function startBird(
  procDir: string,
  name: string,
  netns: string,
  dir: string,
  initialConfig: string,
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'bird.conf');
  if (!existsSync(conf)) writeFileSync(conf, initialConfig);
  const socket = join(dir, 'bird.ctl');
  rmSync(socket, { force: true });
  startOwned(procDir, `${name}-bird`, 'bird', ['-f', '-c', conf, '-s', socket], process.env, { detached: true, netns });
  await waitForFile(socket, `${name} bird`);
  return socket;
}

/** gobgpd driven over gRPC on a unix socket only (no TCP API, no pprof). */
export async function startGobgpd(procDir: string, name: string, netns: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'gobgp.sock');
  rmSync(socket, { force: true });
  startOwned(
    procDir,
    `${name}-gobgpd`,
    'gobgpd',
    [`--api-hosts=unix://${socket}`, '--pprof-disable', '-l', 'info'],
    process.env,
    { detached: true, netns },
  );
  await waitForFile(socket, `${name} gobgpd`);
  return socket;
}
