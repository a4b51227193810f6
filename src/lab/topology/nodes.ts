// Routing daemons on the nodes of a Topology, started the way the product expects to find them:
// BIRD with a minimal config and its control socket in the node's directory (the agent renders the
// real config), FRR with an empty config, gobgpd API-only on a unix socket. All owned by the Topology.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Daemon } from '../../api/validate-routerconfig.ts';
import type { RoutingBackendPaths } from '../../routing/controller.ts';
import { birdCommand } from '../../routing/bird/control.ts';
import { startFrr, type FrrDaemon } from '../frr.ts';
import { waitForFile, waitUntil } from '../wait.ts';
import type { Topology, TopologyNode } from './topology.ts';

/** Backend paths of a node's daemon, as the routing controller takes them. */
export function nodeBackendPaths(n: TopologyNode): RoutingBackendPaths {
  return {
    birdConfigDir: n.dir,
    birdSocket: join(n.dir, 'bird.ctl'),
    frrConfDir: n.dir,
    frrVtySocket: n.dir,
    gobgpTarget: `unix://${join(n.dir, 'gobgp.sock')}`,
  };
}

/** Starts the routing daemon of one node and waits until it answers on its control interface. Returns the
 * process for BIRD and gobgpd (FRR is several processes, all owned by the Topology: destroy() stops them). */
export async function startNodeDaemon(
  topo: Topology,
  n: TopologyNode,
  daemon: Daemon,
  frrDaemons: FrrDaemon[] = ['bgpd'],
): Promise<ChildProcess | undefined> {
  const paths = nodeBackendPaths(n);
  if (daemon === 'bird') {
    const conf = join(n.dir, 'bird.conf');
    writeFileSync(conf, `router id ${n.ipv4};\nprotocol device {}\n`);
    const child = topo.spawn(n.netns, `bird-${n.netns}`, 'bird', ['-f', '-c', conf, '-s', paths.birdSocket], n.dir);
    await waitUntil(`BIRD of ${n.netns}`, async () => (await birdCommand(paths.birdSocket, 'show status')).code === 13);
    return child;
  } else if (daemon === 'frr') {
    await startFrr(topo.owner(n.dir), n.netns, n.netns, n.dir, frrDaemons, {
      config: 'frr defaults traditional\n',
      bgpListen: true,
    });
    return undefined;
  }
  const child = topo.spawn(
    n.netns,
    `gobgpd-${n.netns}`,
    'gobgpd',
    [`--api-hosts=${paths.gobgpTarget}`, '--pprof-disable', '-p', '-l', 'info'],
    n.dir,
  );
  await waitForFile(join(n.dir, 'gobgp.sock'), `gobgpd of ${n.netns}`);
  return child;
}
