// Tells the LAN that this node now holds a local address: gratuitous ARP (iputils `arping`, unsolicited
// requests -U and unsolicited replies -A, as switches and hosts differ in which they honour) or
// unsolicited IPv6 neighbour advertisements with the Override flag. Three of each, 1 s apart: a
// neighbour ignores an update within its locktime (Linux: 1 s) of the previous one, which is exactly
// when two nodes announce one address in quick succession (a takeover, then the old owner's return).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Family } from '../api/ip.ts';

const NA_HELPER = fileURLToPath(new URL('./unsolicited-na.py', import.meta.url));

export type Announcer = (ifname: string, ip: string, family: Family) => Promise<void>;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 5000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(),
    );
  });
}

/**
 * The first packets leave at once; the promise settles about three seconds later, so callers must not
 * hold a reconcile on it.
 */
export const announceAddress: Announcer = async (ifname, ip, family) => {
  if (family === 6) return run('python3', [NA_HELPER, ifname, ip]);
  await Promise.all(['-U', '-A'].map((mode) => run('arping', ['-q', mode, '-c', '3', '-I', ifname, ip])));
};
