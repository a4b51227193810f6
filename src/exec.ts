// Runs a command and throws when it fails, the error naming the command and its stderr: for commands
// whose failure is a fault (ip, arping, vtysh in the lab). Daemon tools whose non-zero exit is an answer
// use runTool (routing/exec.ts) instead.
import { execFile } from 'node:child_process';

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

/** Runs a command inside a network namespace. */
export const inNetns = (netns: string, cmd: string, args: string[], opts?: RunOptions) =>
  run('ip', ['netns', 'exec', netns, cmd, ...args], opts);

/** One `ip -batch -` (optionally `-n NETNS`): all lines or a precise error. */
export const ipBatch = (lines: string[], netns?: string) =>
  run('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { input: lines.join('\n') + '\n' });
