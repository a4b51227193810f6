// FRR daemons started directly inside a namespace (no watchfrr, nothing written to /etc/frr; the daemons run as user frr): every
// daemon runs in the foreground with its vty socket, zserv socket, pid and log in one directory, so
// several instances (the ToR and FRR nodes) run side by side. The daemons are owned by the Topology
// and stopped by pid.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTool, toolError } from '../../routing/exec.ts';
import { sh, type Topology } from './topology.ts';

export type FrrDaemon = 'bgpd' | 'ospfd' | 'ospf6d' | 'bfdd';

export interface FrrInstance {
  netns: string;
  /** Config dir and vty socket dir (pass both to vtysh / frr-reload.py). */
  dir: string;
  vtysh(command: string): Promise<string>;
  json<T>(command: string): Promise<T>;
  /** Stops this instance's daemons by pid (Topology.destroy() does it too). */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForFile(path: string, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${what} did not appear at ${path} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Starts zebra + daemons in netns with `config` as <dir>/frr.conf, then loads it (vtysh -b). */
export async function startFrr(
  topo: Topology,
  netns: string,
  dir: string,
  daemons: FrrDaemon[],
  config: string,
): Promise<FrrInstance> {
  writeFileSync(join(dir, 'frr.conf'), config);
  writeFileSync(join(dir, 'vtysh.conf'), '');
  // the daemons drop to user frr (root is not in the frrvty group), so the directory must be theirs
  await sh('chown', ['-R', 'frr:frr', dir]);
  const common = (d: string) => [
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
    '--log',
    `file:${join(dir, `${d}.log`)}`,
  ];
  const children = [topo.spawn(netns, `${netns}-zebra`, '/usr/lib/frr/zebra', common('zebra'), dir)];
  await waitForFile(join(dir, 'zebra.vty'), `zebra of ${netns}`);
  for (const d of daemons) {
    children.push(topo.spawn(netns, `${netns}-${d}`, `/usr/lib/frr/${d}`, common(d), dir));
    await waitForFile(join(dir, `${d}.vty`), `${d} of ${netns}`);
  }
  const vtysh = async (command: string) => {
    const r = await runTool('vtysh', ['--vty_socket', dir, '-c', command]);
    if (r.code !== 0) throw new Error(`vtysh (${netns}) -c "${command}": ${toolError(r)}`);
    return r.stdout;
  };
  const boot = await runTool('vtysh', ['--vty_socket', dir, '--config_dir', dir, '-b']);
  if (boot.code !== 0) throw new Error(`vtysh -b (${netns}) could not load ${dir}/frr.conf: ${toolError(boot)}`);
  return {
    netns,
    dir,
    vtysh,
    json: async <T>(command: string) => JSON.parse((await vtysh(command)) || '{}') as T,
    // daemons first, zebra last (they deregister from it)
    stop: async () => {
      for (const c of children.slice(1)) await topo.stop(c);
      await topo.stop(children[0]!);
    },
  };
}
