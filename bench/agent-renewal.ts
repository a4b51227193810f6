// Benchmark: one lifetime renewal of many local addresses, in a network namespace of its own. The node's
// LAN interface is one end of a veth pair (the other end stands for the LAN). Places COUNT IPv4 and then
// COUNT IPv6 local addresses with the agent's own batch lines, then times the renewal batches the agent
// sends every third of the lifetime (the same renewalLine() and `ip -batch` as src/agent/renewal.ts):
// wall time, CPU of the `ip` process (user + system, which includes the kernel's netlink handling),
// CPU of the kernel's worker threads (machine-wide: includes whatever else the machine does), and the
// packets the LAN side received in the 3 s after the batch (against 3 s of quiet before it).
// Run: npx node bench/agent-renewal.ts [count] [rounds] [families, e.g. 4 or 4,6]; re-executes itself in a netns.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Family } from '../src/api/ip.ts';
import { iproute2 } from '../src/agent/iproute.ts';
import { batchLine, renewalLine, type HeldAddress } from '../src/agent/plan.ts';

const COUNT = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const FAMILIES = (process.argv[4] ?? '4,6').split(',').map(Number) as Family[];
// the cost does not depend on the value; long enough that nothing expires between rounds on a busy machine
const LIFETIME_S = 30;
const TICK_S = 1 / 100; // USER_HZ of /proc/*/stat

if (!process.env.PURELB_BENCH_NETNS) {
  const netns = `plbrenew-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', netns]);
  try {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', netns, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
      { stdio: 'inherit', env: { ...process.env, PURELB_BENCH_NETNS: netns } },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', netns]);
  }
} else {
  const ip = (...args: string[]) => execFileSync('ip', args);
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan0');
  ip('addr', 'add', '10.20.0.1/16', 'dev', 'eth0');
  ip('addr', 'add', 'fd00:20::1/64', 'dev', 'eth0', 'nodad');
  ip('link', 'set', 'eth0', 'up');
  ip('link', 'set', 'lan0', 'up');

  /** utime + stime of this process's reaped children (the `ip` batches), in seconds. */
  const childrenCpu = () => {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[13]) + Number(fields[14])) * TICK_S; // cutime, cstime (fields 16 and 17)
  };
  /** utime + stime of every kernel worker thread on the machine, in seconds. */
  const kworkerCpu = () => {
    let total = 0;
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (!stat.includes('(kworker')) continue;
        const fields = stat.split(') ')[1]!.split(' ');
        total += (Number(fields[11]) + Number(fields[12])) * TICK_S; // utime, stime
      } catch {
        /* gone */
      }
    }
    return total;
  };
  const lanPackets = () => Number(readFileSync('/sys/class/net/lan0/statistics/rx_packets', 'utf8'));

  const held = (family: Family): HeldAddress[] =>
    Array.from({ length: COUNT }, (_, i) =>
      family === 4
        ? { ifname: 'eth0', ip: `10.20.${(i >> 8) + 1}.${i & 255}`, prefix: 16, family }
        : { ifname: 'eth0', ip: `fd00:20::1:${i.toString(16)}`, prefix: 64, family },
    );

  const run = async (lines: string[]) => {
    const { failed } = await iproute2.applyBatch(lines);
    if (failed.length) throw new Error(`${failed.length} batch lines failed, first: ${failed[0]!.message}`);
  };

  for (const family of FAMILIES) {
    const addresses = held(family);
    let t = performance.now();
    await run(addresses.map((a) => batchLine({ ...a, op: 'add', kind: 'local' }, { localLifetime: LIFETIME_S })));
    console.log(`IPv${family}: placed ${COUNT} local addresses in ${(performance.now() - t).toFixed(0)} ms`);
    await sleep(3000); // the placement's own multicast reports (IPv6) are over
    for (let round = 1; round <= ROUNDS; round++) {
      const quietBefore = lanPackets();
      await sleep(3000);
      const quiet = lanPackets() - quietBefore;
      const [cpu0, kw0, pk0] = [childrenCpu(), kworkerCpu(), lanPackets()];
      t = performance.now();
      await run(addresses.map((a) => renewalLine(a, LIFETIME_S)));
      const wall = performance.now() - t;
      const [cpu1, kw1] = [childrenCpu(), kworkerCpu()];
      await sleep(3000);
      console.log(
        `IPv${family} renewal ${round}/${ROUNDS}: ${COUNT} addresses, ${wall.toFixed(0)} ms wall, ` +
          `ip process ${(cpu1 - cpu0).toFixed(2)} s CPU, kernel workers ${(kw1 - kw0).toFixed(2)} s CPU (machine-wide), ` +
          `LAN side received ${lanPackets() - pk0} packets in the 3 s after it (${quiet} in 3 s before)`,
      );
    }
    const inPlace = new Set(
      (await iproute2.readLinks()).flatMap((l) => l.addrs.filter((a) => a.validLft !== undefined).map((a) => a.ip)),
    );
    const renewed = addresses.filter((a) => inPlace.has(a.ip)).length;
    console.log(`IPv${family}: ${renewed} of ${COUNT} addresses in place after the renewals`);
    ip(`-${family}`, 'addr', 'flush', 'dev', 'eth0', 'dynamic');
  }
}
