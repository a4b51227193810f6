// The BGP ToR configurations of docs/tor-examples.md, exactly as written there, run as the router in
// front of two nodes whose BIRD speakers are in DIFFERENT AS numbers (65001, 65002) and both announce
// 172.31.100.1/32 and fd00:31:100::1/128 from kube-lb0. The ToR's kernel must get one ECMP route with
// both nodes as next hops: that needs FRR's multipath-relax and BIRD's merge paths, which the page
// claims. Everything runs in network namespaces this test creates and removes.
import { afterEach, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { stopChild } from '../../src/lab/cluster/processes.ts';
import { startFrr, type ProcessOwner } from '../../src/lab/frr.ts';
import { gateways, kernelRouteTable } from '../../src/status/upstream.ts';
import { waitFor } from '../harness/kube.ts';
import { fencedBlocks } from '../harness/markdown.ts';

const doc = readFileSync(join(repoRoot, 'docs', 'tor-examples.md'), 'utf8');
const bgpBlock = (lang: string) => fencedBlocks(doc, lang).find((b) => /router bgp|protocol bgp/.test(b))!;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

interface Lab {
  prefix: string;
  dir: string;
  tor: string;
  nodes: string[];
  pidFiles: string[];
  /** Foreground daemons started through testOwner (FRR), stopped by pid. */
  children: ChildProcess[];
}
let lab: Lab | undefined;

/** ToR namespace with br0 = 192.168.1.1/24 + fd00:1::1/64; nodes .11/.12 with kube-lb0 (ifb) holding the VIPs. */
function createLab(): Lab {
  const prefix = `dto${randomBytes(3).toString('hex')}`;
  const l: Lab = {
    prefix,
    dir: mkdtempSync(join(tmpdir(), `${prefix}-`)),
    tor: `${prefix}-tor`,
    nodes: [],
    pidFiles: [],
    children: [],
  };
  lab = l;
  ip('netns', 'add', l.tor);
  ip('-n', l.tor, 'link', 'set', 'lo', 'up');
  ip('-n', l.tor, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0');
  ip('-n', l.tor, 'addr', 'add', '192.168.1.1/24', 'dev', 'br0');
  ip('-n', l.tor, 'addr', 'add', 'fd00:1::1/64', 'dev', 'br0', 'nodad');
  ip('-n', l.tor, 'link', 'set', 'br0', 'up');
  for (const i of [1, 2]) {
    const ns = `${prefix}-n${i}`;
    ip('netns', 'add', ns);
    l.nodes.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', `${prefix}p${i}`, 'netns', l.tor, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', l.tor, 'link', 'set', `${prefix}p${i}`, 'master', 'br0', 'up');
    ip('-n', ns, 'addr', 'add', `192.168.1.1${i}/24`, 'dev', 'eth0');
    ip('-n', ns, 'addr', 'add', `fd00:1::1${i}/64`, 'dev', 'eth0', 'nodad');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'add', 'kube-lb0', 'type', 'ifb');
    ip('-n', ns, 'link', 'set', 'kube-lb0', 'up');
    ip('-n', ns, 'addr', 'add', '172.31.100.1/32', 'dev', 'kube-lb0');
    ip('-n', ns, 'addr', 'add', 'fd00:31:100::1/128', 'dev', 'kube-lb0', 'nodad');
    // a node speaker like the agent's BIRD template: host routes from kube-lb0, import nothing
    const conf = join(l.dir, `n${i}.conf`);
    writeFileSync(
      conf,
      `router id 192.168.1.1${i};
protocol device { }
protocol direct kube_lb { ipv4; ipv6; interface "kube-lb0"; }
template bgp tor { local as 6500${i}; connect delay time 1; connect retry time 2; error wait time 1, 5; }
protocol bgp tor_v4 from tor { neighbor 192.168.1.1 as 65000; ipv4 { import none; export where proto = "kube_lb" && net.len = 32; }; }
protocol bgp tor_v6 from tor { neighbor fd00:1::1 as 65000; ipv6 { import none; export where proto = "kube_lb" && net.len = 128; }; }
`,
    );
    startDaemon(
      ns,
      'bird',
      ['-c', conf, '-s', join(l.dir, `n${i}.ctl`), '-P', join(l.dir, `n${i}.pid`)],
      join(l.dir, `n${i}.pid`),
    );
  }
  return l;
}

function startDaemon(ns: string, cmd: string, args: string[], pidFile: string): void {
  lab!.pidFiles.push(pidFile);
  const run = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${run.stderr}`);
}

/** Daemons in the foreground inside a namespace, logging to the lab dir, stopped after each test. */
const testOwner = (l: Lab): ProcessOwner => ({
  start: (name, netns, exe, args) => {
    const log = openSync(join(l.dir, `${name}.log`), 'a');
    const child = spawn('ip', ['netns', 'exec', netns, exe, ...args], { stdio: ['ignore', log, log] });
    l.children.push(child);
    return child;
  },
  stop: (child) => stopChild(child),
});

afterEach(async () => {
  if (!lab) return;
  for (const c of lab.children) await stopChild(c);
  for (const f of lab.pidFiles) {
    try {
      const pid = Number(readFileSync(f, 'utf8').trim());
      if (pid > 0) process.kill(pid, 'SIGTERM');
    } catch {
      /* not started */
    }
  }
  await sleep(300);
  for (const ns of [...lab.nodes, lab.tor]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(lab.dir, { recursive: true, force: true });
  lab = undefined;
});

/** Gateways of the ToR's kernel route to a host address (one, or ECMP). */
function nextHops(tor: string, family: 4 | 6, address: string): string[] {
  const prefix = `${address}/${family === 4 ? 32 : 128}`;
  return gateways(kernelRouteTable(ip('-n', tor, `-${family}`, '-j', 'route', 'show', prefix), family))[prefix] ?? [];
}

async function expectEcmp(l: Lab): Promise<void> {
  await waitFor(
    'IPv4 ECMP route via both nodes on the ToR',
    () =>
      Promise.resolve(
        JSON.stringify(nextHops(l.tor, 4, '172.31.100.1')) === JSON.stringify(['192.168.1.11', '192.168.1.12']),
      ),
    30_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; route: ${ip('-n', l.tor, 'route', 'show', '172.31.100.1')}`);
  });
  // IPv6 next hops may be the nodes' global or link-local addresses: two distinct ones is the point
  await waitFor(
    'IPv6 ECMP route via both nodes on the ToR',
    () => Promise.resolve(nextHops(l.tor, 6, 'fd00:31:100::1').length === 2),
    30_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; route: ${ip('-n', l.tor, '-6', 'route', 'show', 'fd00:31:100::1')}`);
  });
}

describe('docs/tor-examples.md BGP ToR configs, live, with nodes in different AS numbers', () => {
  test('BIRD ToR (merge paths): one ECMP route with both nodes', async () => {
    const l = createLab();
    const conf = join(l.dir, 'tor.conf');
    writeFileSync(conf, bgpBlock('bird'));
    startDaemon(
      l.tor,
      'bird',
      ['-c', conf, '-s', join(l.dir, 'tor.ctl'), '-P', join(l.dir, 'tor.pid')],
      join(l.dir, 'tor.pid'),
    );
    await expectEcmp(l);
  });

  test('FRR ToR (multipath-relax, maximum-paths): one ECMP route with both nodes', async () => {
    const l = createLab();
    // the doc's config as FRR reads it, then the lab's FRR (private state dir, no /etc/frr, no watchfrr)
    const conf = join(l.dir, 'frr-tor.conf');
    writeFileSync(conf, bgpBlock('frr'));
    execFileSync('vtysh', ['--dryrun', '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    chmodSync(l.dir, 0o755); // FRR drops to user frr, which must reach its state dir inside
    const frr = await startFrr(testOwner(l), l.tor, l.tor, join(l.dir, 'frr'), ['bgpd'], {
      config: bgpBlock('frr'),
      bgpListen: true,
    });
    await expectEcmp(l);
    const bgp = await frr.json<{ paths: Array<{ multipath?: boolean; aspath: { string: string } }> }>(
      'show bgp ipv4 unicast 172.31.100.1/32 json',
    );
    expect(bgp.paths.map((p) => p.aspath.string).sort()).toEqual(['65001', '65002']);
    expect(bgp.paths.every((p) => p.multipath === true || (p as { bestpath?: unknown }).bestpath)).toBe(true);
  });
});
