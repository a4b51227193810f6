// Polling waits of the lab: until a probe answers (a daemon, a node) or a file appears (a socket).
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `probe` (a throw counts as "not yet") until it is true; throws naming `what` after timeoutMs. */
export async function waitUntil(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(probe)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export const waitForFile = (path: string, what: string, timeoutMs = 15_000) =>
  waitUntil(`${what} (${path} to appear)`, () => existsSync(path), timeoutMs, 50);
