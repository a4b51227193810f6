// `purelb status`: pools, Services and per-node routing of any cluster (kubeconfig), optionally with an
// upstream router's routes read from a network namespace (the lab's ToR); --watch redraws it on changes.
import { parseArgs } from 'node:util';
import { errorText } from '../log.ts';
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';
import { buildStatusReport, renderStatus, type StatusInputs, type StatusReport } from '../status/report.ts';
import { readNodesByIP, readStatusInputs } from '../status/source.ts';
import { watchStatus } from '../status/watch.ts';
import { nameByNeighbours, readKernelRoutes, readNeighbours, readVtyshRoutes } from '../status/upstream.ts';
import type { Command } from './main.ts';
import { KubeClient } from '../k8s/rest.ts';
import { clusterOptions, loadClusterConfig, UsageError } from './options.ts';

const HELP = `Usage: purelb status [--kubeconfig PATH] [--context NAME] [-n purelb] [-o table|json] [-w]
                     [--upstream NETNS [--upstream-vty DIR]]

  Pools (used/free per family), Services (address, group, local/virtual, announcing nodes, ETP) and
  per-node routing (daemon, sessions, advertised prefixes from RouterConfig status).
  --kubeconfig PATH  kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)
  --context NAME     use that kubeconfig context instead of the current one
  -n, --namespace    PureLB's install namespace (ServiceGroups, agent Leases, RouterConfigs)
  -o, --output       table (default) or json
  -w, --watch        keep watching: redraw when Services, pools, nodes or sessions change (Ctrl-C quits)
  --upstream NETNS   add the routes of the router in that network namespace (kernel FIB; with
                     --upstream-vty DIR, FRR's "show ip route json" through that vty socket dir)`;

const OPTIONS = {
  ...clusterOptions(DEFAULT_NAMESPACE),
  output: { type: 'string', short: 'o', default: 'table' },
  watch: { type: 'boolean', short: 'w' },
  upstream: { type: 'string' },
  'upstream-vty': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const OUTPUTS = ['table', 'json'];

async function readUpstream(kc: KubeClient, netns: string, vty: string | undefined) {
  const routes = vty ? await readVtyshRoutes(netns, vty) : await readKernelRoutes(netns);
  return { netns, routes, nodeByIP: nameByNeighbours(await readNodesByIP(kc), await readNeighbours(netns)) };
}

// cursor hidden while redrawing in place; shown again however the watch ends
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const HOME_AND_CLEAR = '\x1b[H\x1b[2J';

/** Redraws until SIGINT/SIGTERM; on a terminal in place (like watch(1)), else one frame after another. */
async function watch(
  kc: KubeClient,
  namespace: string,
  render: (r: StatusReport) => string,
  json: boolean,
  readUp?: () => Promise<StatusInputs['upstream']>,
): Promise<number> {
  const tty = process.stdout.isTTY === true;
  // not a terminal (a pipe, a file): frames one after another, each table ended by a "---" line (JSON
  // documents need no separator: jq reads a stream of them)
  const end = json ? '\n' : '\n---\n';
  const write = (frame: string) => process.stdout.write(tty ? `${HOME_AND_CLEAR}${frame}\n` : `${frame}${end}`);
  if (tty) process.stdout.write(HIDE_CURSOR);
  const w = watchStatus(kc, namespace, { render, write, ...(readUp ? { readUpstream: readUp } : {}) });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    // the reader went away (`purelb status -w | head`): stop like on Ctrl-C
    process.stdout.once('error', () => resolve());
  });
  await w.stop();
  if (tty) process.stdout.write(SHOW_CURSOR);
  // Ctrl-C is how a watch ends: a clean exit, like kubectl get -w
  return 0;
}

export const command: Command = {
  summary: 'Show pools, Services, announcing nodes and routing sessions (-o json for scripts, -w to watch)',
  options: OPTIONS,
  choices: { output: OUTPUTS },
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: OPTIONS });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!OUTPUTS.includes(values.output)) throw new UsageError(`-o ${values.output}: use table or json`);
    if (values['upstream-vty'] && !values.upstream) throw new UsageError('--upstream-vty needs --upstream NETNS');
    const config = loadClusterConfig(values);
    const kc = new KubeClient(config);
    const render = (r: StatusReport) => (values.output === 'json' ? JSON.stringify(r, null, 2) : renderStatus(r));
    const netns = values.upstream;
    const readUp = netns ? () => readUpstream(kc, netns, values['upstream-vty']) : undefined;
    if (values.watch) return watch(kc, values.namespace, render, values.output === 'json', readUp);
    let inputs;
    try {
      inputs = await readStatusInputs(kc, values.namespace);
    } catch (err) {
      // name the cluster it tried: with several contexts, the wrong one is the usual cause
      console.error(
        `purelb status: reading from ${kc.server} (context "${config.currentContext}") failed: ` +
          `${errorText(err)}; check --context, --kubeconfig or KUBECONFIG`,
      );
      return 1;
    }
    const upstream = readUp ? await readUp() : undefined;
    console.log(render(buildStatusReport({ ...inputs, ...(upstream ? { upstream } : {}) })));
    return 0;
  },
};
