// Runs a command and throws when it fails, the error naming the command and its stderr: for commands
// whose failure is a fault (ip, arping, vtysh in the lab). Daemon tools whose non-zero exit is an answer
// use runTool (routing/exec.ts) instead.
import { execFile, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

export interface RunOptions {
  input?: string;
  /** default 30 s; 0: none */
  timeoutMs?: number;
}

const failure = (cmd: string, args: string[], err: Error, stderr: string | Buffer) =>
  new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`);

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 256 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(failure(cmd, args, err, stderr));
        else resolve(String(stdout));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Starts a command now and gives it its input later (as `run` does, with the timeout counted from then):
 * the start-up of an interpreter is paid before the moment it is needed. Until then the process does
 * not keep this one alive; if this one exits first, the command reads end-of-file.
 */
export function prestart(cmd: string, args: string[]): (input: string, timeoutMs: number) => Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  let child: ChildProcess;
  const done = new Promise<string>((resolve, reject) => {
    child = execFile(cmd, args, { maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      clearTimeout(timer);
      if (err) reject(failure(cmd, args, err, stderr));
      else resolve(String(stdout));
    });
  });
  done.catch(() => undefined); // a spare that dies unused reports it to the caller that uses it, not as an unhandled rejection
  const pipes = () => [child.stdin, child.stdout, child.stderr] as unknown as (Socket | null)[];
  child!.unref();
  for (const p of pipes()) p?.unref();
  return (input, timeoutMs) => {
    child.ref();
    for (const p of pipes()) p?.ref();
    timer = setTimeout(() => child.kill(), timeoutMs);
    child.stdin?.end(input);
    return done;
  };
}

/** Runs a command inside a network namespace. */
export const inNetns = (netns: string, cmd: string, args: string[], opts?: RunOptions) =>
  run('ip', ['netns', 'exec', netns, cmd, ...args], opts);

/** One `ip -batch -` (optionally `-n NETNS`): all lines or a precise error. */
export const ipBatch = (lines: string[], netns?: string) =>
  run('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { input: lines.join('\n') + '\n' });
