// Tells the LAN that this node now holds a local address: gratuitous ARP (iputils `arping`, unsolicited
// requests -U and unsolicited replies -A, as switches and hosts differ in which they honour) or
// unsolicited IPv6 neighbour advertisements with the Override flag. Three of each, 1 s apart: a
// neighbour ignores an update within its locktime (Linux: 1 s) of the previous one, which is exactly
// when two nodes announce one address in quick succession (a takeover, then the old owner's return).
import { fileURLToPath } from 'node:url';
import type { Family } from '../api/ip.ts';
import { run } from '../exec.ts';

const NA_HELPER = fileURLToPath(new URL('./unsolicited-na.py', import.meta.url));

export type Announcer = (ifname: string, ip: string, family: Family) => Promise<void>;

const limit = { timeoutMs: 5000 };

/**
 * The first packets leave at once; the promise settles about three seconds later, so callers must not
 * hold a reconcile on it.
 */
export const announceAddress: Announcer = async (ifname, ip, family) => {
  if (family === 6) {
    await run('python3', [NA_HELPER, ifname, ip], limit);
    return;
  }
  await Promise.all(['-U', '-A'].map((mode) => run('arping', ['-q', mode, '-c', '3', '-I', ifname, ip], limit)));
};
