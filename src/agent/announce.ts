// Tells the LAN that this node now holds local addresses: gratuitous ARP (an unsolicited request and an
// unsolicited reply, as switches and hosts differ in which they honour) or unsolicited IPv6 neighbour
// advertisements with the Override flag, three rounds 1 s apart (./announce.py). One helper process
// sends for a whole batch of addresses, and the next one is started ahead of need: Python's start-up
// (about 130 ms on an idle node, more on a busy one) is not on a takeover's path.
import { fileURLToPath } from 'node:url';
import { prestart } from '../exec.ts';

const HELPER = fileURLToPath(new URL('./announce.py', import.meta.url));

export interface AnnounceTarget {
  ifname: string;
  ip: string;
}

export type Announcer = (targets: readonly AnnounceTarget[]) => Promise<void>;

/**
 * The first packets leave at once; the promise settles about two seconds later, so callers must not
 * hold a reconcile on it.
 */
let spare: ReturnType<typeof prestart> | undefined;

export const announceAddresses: Announcer = async (targets) => {
  const helper = spare ?? prestart('python3', [HELPER]);
  spare = prestart('python3', [HELPER]);
  // 1 s between rounds, plus the time to send the rest of a large batch
  await helper(targets.map((t) => `${t.ifname} ${t.ip}\n`).join(''), 10_000 + targets.length);
};
