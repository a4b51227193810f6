// Tells the LAN that this node now holds local addresses: gratuitous ARP (an unsolicited request and an
// unsolicited reply, as switches and hosts differ in which they honour) or unsolicited IPv6 neighbour
// advertisements with the Override flag, three rounds 1 s apart (./announce.py). One helper process runs
// for the agent's lifetime: an address handed to it leaves in its first round at once, with no process
// start-up (about 130 ms on an idle node, more on a busy one) and no wait behind earlier announcements
// on a takeover's path. It exits with the agent (its stdin closes), so a killed agent's helper never
// points the LAN back at a node that no longer serves.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.ts';

const HELPER = fileURLToPath(new URL('./announce.py', import.meta.url));

export interface AnnounceTarget {
  ifname: string;
  ip: string;
}

/** Hands addresses to the helper; what it cannot send is logged, never thrown at the caller. */
export type Announcer = (targets: readonly AnnounceTarget[]) => void;

export interface AnnounceHelper {
  announce: Announcer;
  /** Closes the helper's stdin: it sends nothing more and exits. */
  stop(): void;
}

export function startAnnouncer(log: Logger): AnnounceHelper {
  let child: ChildProcess | undefined;
  let stopped = false;
  const start = () => {
    const c = spawn('python3', [HELPER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr = (stderr + String(d)).slice(-2000)));
    createInterface({ input: c.stdout }).on('line', (line) =>
      log.warn('could not send gratuitous ARP / unsolicited NA', { error: line }),
    );
    // a write after the helper died: reported by its exit
    c.stdin.on('error', () => undefined);
    c.on('error', (err) => log.warn('could not start the gratuitous ARP / unsolicited NA helper', { error: err }));
    c.on('exit', (code, signal) => {
      if (child === c) child = undefined;
      if (!stopped)
        log.warn('gratuitous ARP / unsolicited NA helper exited; the next announcement starts it again', {
          code,
          signal,
          stderr: stderr.trim(),
        });
    });
    // the agent's own work keeps the process alive, not its helper
    c.unref();
    for (const s of [c.stdin, c.stdout, c.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    return c;
  };
  child = start();
  return {
    announce(targets) {
      if (targets.length === 0 || stopped) return;
      child ??= start();
      child.stdin!.write(targets.map((t) => `${t.ifname} ${t.ip}\n`).join(''));
    },
    stop() {
      stopped = true;
      child?.stdin?.end();
    },
  };
}
