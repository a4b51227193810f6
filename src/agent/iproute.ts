// The iproute2 adapter: reads with `ip -json`, writes a whole reconcile with one `ip -force -batch -`,
// creates and raises the virtual interface. The rest of the agent sees only this interface, so tests
// of the pure parts need no kernel and the adapter could be swapped for netlink later.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { parseDefaultRoutesJson, parseIpAddrJson, type DefaultRoute, type KernelLink } from './interfaces.ts';
import { run } from '../exec.ts';

export interface BatchResult {
  /** 1-based line numbers that failed, with iproute2's message. */
  failed: Array<{ line: number; message: string }>;
}

export interface LinkSetup {
  /** Whether deleting a primary IPv4 address of `ifname` promotes a secondary instead of deleting them all. */
  promoteSecondaries: boolean;
  /** Why the agent could not turn promotion on itself (read-only /proc/sys in a container), if it could not. */
  sysctlError?: string;
}

export interface NetworkAdapter {
  /** Every interface and its addresses, or only those of `ifnames` (missing ones are left out): a stop
   * that withdraws a few local addresses need not read 10,000 virtual ones. */
  readLinks(ifnames?: readonly string[]): Promise<KernelLink[]>;
  readDefaultRoutes(family: 4 | 6): Promise<DefaultRoute[]>;
  /**
   * Creates the interface with the given link kind if it is missing, and sets it up. Never deletes it.
   * Tries to turn on promote_secondaries for it; never fails for that (see LinkSetup).
   */
  ensureLink(ifname: string, kind: string): Promise<LinkSetup>;
  /** The effective promote_secondaries of an interface: net.ipv4.conf.all OR net.ipv4.conf.<ifname>. */
  promotesSecondaries(ifname: string): Promise<boolean>;
  applyBatch(lines: string[]): Promise<BatchResult>;
}

const promoteSysctl = (ifname: string) => `/proc/sys/net/ipv4/conf/${ifname}/promote_secondaries`;

/** The kernel ORs the `all` and per-interface values (IN_DEV_ORCONF). An unreadable value counts as off. */
async function promotesSecondaries(ifname: string): Promise<boolean> {
  const on = (path: string) =>
    readFile(path, 'utf8').then(
      (v) => v.trim() !== '0',
      () => false,
    );
  const [all, dev] = await Promise.all([on(promoteSysctl('all')), on(promoteSysctl(ifname))]);
  return all || dev;
}

// no timeout: a reconcile waits for the kernel however long a large table takes to read
const ip = (args: string[]) => run('ip', args, { timeoutMs: 0 });

/** Parses `ip -force -batch` stderr: each failure is the kernel message followed by "Command failed -:N". */
export function parseBatchErrors(stderr: string): BatchResult['failed'] {
  const failed: BatchResult['failed'] = [];
  let message = '';
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)/.exec(line);
    if (m) {
      failed.push({ line: Number(m[1]), message: message || 'failed' });
      message = '';
    } else if (line.trim()) {
      message = line.trim();
    }
  }
  return failed;
}

export const iproute2: NetworkAdapter = {
  async readLinks(ifnames) {
    if (!ifnames) return parseIpAddrJson(await ip(['-json', 'address', 'show']));
    const each = await Promise.all(
      ifnames.map((n) => ip(['-json', 'address', 'show', 'dev', n]).then(parseIpAddrJson, () => [])),
    );
    return each.flat();
  },
  async readDefaultRoutes(family) {
    return parseDefaultRoutesJson(await ip([`-${family}`, '-json', 'route', 'show', 'default']));
  },
  async ensureLink(ifname, kind) {
    const exists = await ip(['-json', 'link', 'show', 'dev', ifname]).then(
      () => true,
      () => false,
    );
    if (!exists) await ip(['link', 'add', ifname, 'type', kind]);
    // Removing the primary address of a subnet would otherwise drop every secondary address with it.
    // Container runtimes mount /proc/sys read-only in every unprivileged container (NET_ADMIN does not
    // change that), so the write fails there (EROFS; EACCES/EPERM elsewhere). That is no reason to
    // stop: the host may have turned promotion on for all interfaces, and where it is off the address
    // plans put back what the kernel removes (plan.ts, keepSecondaries).
    let sysctlError: string | undefined;
    try {
      await writeFile(promoteSysctl(ifname), '1');
    } catch (err) {
      sysctlError = (err as Error).message;
    }
    await ip(['link', 'set', 'dev', ifname, 'up']);
    return sysctlError === undefined
      ? { promoteSecondaries: true }
      : { promoteSecondaries: await promotesSecondaries(ifname), sysctlError };
  },
  promotesSecondaries,
  applyBatch(lines) {
    if (lines.length === 0) return Promise.resolve({ failed: [] });
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => {
        const failed = parseBatchErrors(stderr);
        if (code !== 0 && failed.length === 0) reject(new Error(`ip -batch exited with ${code}: ${stderr.trim()}`));
        else resolve({ failed });
      });
      child.stdin.end(lines.join('\n') + '\n');
    });
  },
};
