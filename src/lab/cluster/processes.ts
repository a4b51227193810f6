// Child processes owned by a run: started with their pid recorded in the run's state file, stopped by
// pid (TERM, then KILL), and reaped by a later run if the owner died without cleaning up.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface OwnedProcess {
  name: string;
  pid: number;
  /** argv[0] as started; used to make sure a recorded pid was not reused by another program. */
  exe: string;
}

export interface RunState {
  ownerPid: number;
  processes: OwnedProcess[];
}

const stateFile = (dir: string) => join(dir, 'state.json');

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
  } catch {
    return '';
  }
}

export function readState(dir: string): RunState {
  return existsSync(stateFile(dir))
    ? (JSON.parse(readFileSync(stateFile(dir), 'utf8')) as RunState)
    : { ownerPid: process.pid, processes: [] };
}

function writeState(dir: string, state: RunState): void {
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
}

export interface StartOptions {
  /** Own session, and this process does not wait for it (the lab's processes outlive `lab up`). */
  detached?: boolean;
  /** Run inside this network namespace (`ip netns exec`, which execs `exe`: the pid stays the same). */
  netns?: string;
  /** A command that execs `exe` after entering namespaces or a cgroup (nsenter, a small sh -c), so the
   * recorded pid ends up running `exe`. Exclusive with `netns`. */
  prefix?: string[];
}

/** Spawns `exe args` with stdout+stderr appended to `<dir>/<name>.log` and records its pid. */
export function startOwned(
  dir: string,
  name: string,
  exe: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  opts: StartOptions = {},
): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const prefix = opts.prefix ?? (opts.netns ? ['ip', 'netns', 'exec', opts.netns] : []);
  const [cmd, ...argv] = [...prefix, exe, ...args] as [string, ...string[]];
  const child = spawn(cmd, argv, { stdio: ['ignore', log, log], env, detached: opts.detached ?? false });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${exe})`);
  if (opts.detached) child.unref();
  const state = readState(dir);
  state.ownerPid = process.pid;
  state.processes.push({ name, pid: child.pid, exe });
  writeState(dir, state);
  return child;
}

function signalIfOurs(p: OwnedProcess, signal: NodeJS.Signals): boolean {
  if (!isAlive(p.pid) || cmdlineOf(p.pid) !== p.exe) return false;
  try {
    process.kill(p.pid, signal);
  } catch {
    return false;
  }
  return true;
}

/** Stops one child of this process: TERM, then KILL after graceMs; resolves when it exited. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every recorded process of the run (reverse start order) and removes the state dir. */
export async function stopRun(dir: string, graceMs = 5000): Promise<void> {
  const { processes } = readState(dir);
  for (const p of [...processes].reverse()) signalIfOurs(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (processes.some((p) => isAlive(p.pid) && cmdlineOf(p.pid) === p.exe) && Date.now() < deadline) {
    await sleep(50);
  }
  for (const p of processes) signalIfOurs(p, 'SIGKILL');
  while (processes.some((p) => isAlive(p.pid) && cmdlineOf(p.pid) === p.exe)) await sleep(20);
  rmSync(dir, { recursive: true, force: true });
}

/** Synchronous last-resort cleanup for process 'exit' handlers (no awaiting possible there). */
export function killRunSync(dir: string): void {
  for (const p of readState(dir).processes) signalIfOurs(p, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

/** Removes the runs under tmpdir with this prefix whose owner process is gone. */
export async function reapStaleRuns(prefix: string): Promise<string[]> {
  const reaped: string[] = [];
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(prefix)) continue;
    const dir = join(tmpdir(), entry);
    if (!existsSync(stateFile(dir))) continue;
    if (isAlive(readState(dir).ownerPid)) continue;
    await stopRun(dir, 1000);
    reaped.push(dir);
  }
  return reaped;
}
