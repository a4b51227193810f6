// Routing daemons of the lab, each a foreground process inside a network namespace, recorded by pid
// in the lab's run dir: BIRD and gobgpd here, FRR through frr.ts with the lab as its owner.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startOwned, stopChild } from './cluster/processes.ts';
import type { ProcessOwner } from './frr.ts';
import { waitForFile } from './wait.ts';

/** The lab's processes: detached (they outlive `lab up`), recorded by pid in the run dir `procDir`. */
export const labOwner = (procDir: string): ProcessOwner => ({
  start: (name, netns, exe, args) => startOwned(procDir, name, exe, args, process.env, { detached: true, netns }),
  stop: (child) => stopChild(child),
});

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
  labOwner(procDir).start(`${name}-bird`, netns, 'bird', ['-f', '-c', conf, '-s', socket]);
  await waitForFile(socket, `${name} bird`);
  return socket;
}

/** gobgpd driven over gRPC on a unix socket only (no TCP API, no pprof). */
export async function startGobgpd(procDir: string, name: string, netns: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'gobgp.sock');
  rmSync(socket, { force: true });
  labOwner(procDir).start(`${name}-gobgpd`, netns, 'gobgpd', [
    `--api-hosts=unix://${socket}`,
    '--pprof-disable',
    '-l',
    'info',
  ]);
  await waitForFile(socket, `${name} gobgpd`);
  return socket;
}
