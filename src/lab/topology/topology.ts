// A ToR router and N nodes as network namespaces on one machine, for tests, benchmarks and the lab.
//
// Exported API (stable; the lab builds on it):
//   createTopology({ prefix, nodes, dir })  -> Topology   namespaces `${prefix}-tor`, `${prefix}-n<i>`,
//       a veth per node (`to-n<i>` in the ToR, `eth0` in the node), an ifb `kube-lb0` in every node,
//       addresses 192.168.(10+i).1|2/24 and fd00:(10+i)::1|2/64 (nodad), forwarding on in the ToR.
//   topo.nodes[i]  -> TopologyNode { index, netns, dir, ipv4, ipv6, torIPv4, torIPv6, torIfname }
//   topo.addAddress(node, cidr) / delAddress(node, cidr)   virtual addresses on the node's kube-lb0
//   topo.spawn(netns, name, exe, args)   a process inside a namespace, owned (stopped by pid on destroy)
//   topo.stop(child)   stops one owned process by pid
//   topo.destroy()   stops owned processes by pid (TERM, then KILL) and deletes the namespaces by name
//   topo.owner(logDir)   the topology as owner of FRR daemons: startFrr(topo.owner(dir), ...) (src/lab/frr.ts)
//   startNodeDaemon(topo, node, daemon) / nodeBackendPaths(node)   (src/lab/topology/nodes.ts)
//   startTor(topo, { protocol, asn, ... }) / torNextHops(...)    (src/lab/topology/tor.ts)
// Names carry the caller's prefix (use randomPrefix()), so concurrent runs never collide, and cleanup
// only ever touches what this object created.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from '../cluster/processes.ts';
import type { ProcessOwner } from '../frr.ts';
import { run } from '../../exec.ts';
import { runTool } from '../../routing/exec.ts';

export interface TopologyNode {
  index: number;
  netns: string;
  /** Scratch directory of this node (daemon configs, sockets, logs). */
  dir: string;
  ipv4: string;
  ipv6: string;
  torIPv4: string;
  torIPv6: string;
  /** The ToR's interface towards this node. */
  torIfname: string;
}

export interface TopologyOptions {
  /** Per-run prefix of every namespace (letters/digits, <= 8 characters). */
  prefix: string;
  nodes: number;
  /** Scratch directory; created, and removed by destroy(). */
  dir: string;
}

export const randomPrefix = (tag = 'r') => `${tag}${randomBytes(3).toString('hex')}`;

export class Topology {
  readonly tor: string;
  readonly torDir: string;
  readonly nodes: TopologyNode[] = [];
  readonly dir: string;
  readonly #netns: string[] = [];
  readonly #procs: Array<{ name: string; child: ChildProcess }> = [];

  constructor(opts: TopologyOptions) {
    this.dir = opts.dir;
    this.tor = `${opts.prefix}-tor`;
    this.torDir = join(opts.dir, 'tor');
  }

  async #addNetns(name: string): Promise<void> {
    this.#netns.push(name); // recorded first: destroy() removes it even if setup fails half-way
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  async setup(prefix: string, count: number): Promise<void> {
    mkdirSync(this.torDir, { recursive: true });
    await this.#addNetns(this.tor);
    await run('ip', [
      'netns',
      'exec',
      this.tor,
      'sysctl',
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.forwarding=1',
    ]);
    for (let i = 1; i <= count; i++) {
      const n: TopologyNode = {
        index: i,
        netns: `${prefix}-n${i}`,
        dir: join(this.dir, `n${i}`),
        ipv4: `192.168.${10 + i}.2`,
        ipv6: `fd00:${10 + i}::2`,
        torIPv4: `192.168.${10 + i}.1`,
        torIPv6: `fd00:${10 + i}::1`,
        torIfname: `to-n${i}`,
      };
      mkdirSync(n.dir, { recursive: true });
      await this.#addNetns(n.netns);
      await run('ip', [
        'link',
        'add',
        n.torIfname,
        'netns',
        this.tor,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        n.netns,
      ]);
      await run('ip', ['-n', this.tor, 'addr', 'add', `${n.torIPv4}/24`, 'dev', n.torIfname]);
      await run('ip', ['-n', this.tor, 'addr', 'add', `${n.torIPv6}/64`, 'dev', n.torIfname, 'nodad']);
      await run('ip', ['-n', n.netns, 'addr', 'add', `${n.ipv4}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', n.netns, 'addr', 'add', `${n.ipv6}/64`, 'dev', 'eth0', 'nodad']);
      await run('ip', ['-n', this.tor, 'link', 'set', n.torIfname, 'up']);
      await run('ip', ['-n', n.netns, 'link', 'set', 'eth0', 'up']);
      // no dummy link type on the project's kernels: ifb is UP/LOWER_UP and works with BIRD and FRR
      await run('ip', ['-n', n.netns, 'link', 'add', 'kube-lb0', 'type', 'ifb']);
      await run('ip', ['-n', n.netns, 'link', 'set', 'kube-lb0', 'up']);
      this.nodes.push(n);
    }
  }

  node(i: number): TopologyNode {
    const n = this.nodes[i - 1];
    if (!n) throw new Error(`topology has no node ${i}`);
    return n;
  }

  addAddress(node: number, cidr: string): Promise<string> {
    return run('ip', [
      '-n',
      this.node(node).netns,
      'addr',
      'add',
      cidr,
      'dev',
      'kube-lb0',
      ...(cidr.includes(':') ? ['nodad'] : []),
    ]);
  }

  delAddress(node: number, cidr: string): Promise<string> {
    return run('ip', ['-n', this.node(node).netns, 'addr', 'del', cidr, 'dev', 'kube-lb0']);
  }

  /** Starts `exe args` inside netns in the foreground; output goes to <dir>/<name>.log. */
  spawn(netns: string, name: string, exe: string, args: string[], logDir = this.dir): ChildProcess {
    const log = openSync(join(logDir, `${name}.log`), 'a');
    const child = spawn('ip', ['netns', 'exec', netns, exe, ...args], { stdio: ['ignore', log, log] });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${exe}) in ${netns}`);
    this.#procs.push({ name, child });
    return child;
  }

  /** Stops one owned process by pid; resolves when it exited. */
  stop(child: ChildProcess, graceMs = 3000): Promise<void> {
    return stopChild(child, graceMs);
  }

  /** This topology as the owner of daemons whose logs go to `logDir` (FRR's startFrr takes one). */
  owner(logDir = this.dir): ProcessOwner {
    return { start: (name, netns, exe, args) => this.spawn(netns, name, exe, args, logDir), stop: (c) => this.stop(c) };
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#procs.map((p) => this.stop(p.child)));
    for (const ns of [...this.#netns].reverse()) {
      await runTool('ip', ['netns', 'del', ns]);
    }
    await sleep(50);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function createTopology(opts: TopologyOptions): Promise<Topology> {
  if (!/^[a-z0-9]{1,8}$/.test(opts.prefix))
    throw new Error(`topology prefix ${JSON.stringify(opts.prefix)} must be 1..8 lowercase letters/digits`);
  const topo = new Topology(opts);
  try {
    await topo.setup(opts.prefix, opts.nodes);
  } catch (err) {
    await topo.destroy();
    throw err;
  }
  return topo;
}
