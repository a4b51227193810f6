// `purelb status`: pools, Services and per-node routing of any cluster (kubeconfig), optionally with an
// upstream router's routes read from a network namespace (the lab's ToR).
import { parseArgs } from 'node:util';
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { buildStatusReport, renderStatus, type UpstreamRoutes } from '../status/report.ts';
import { readNodesByIP, readStatusInputs } from '../status/source.ts';
import { nameByNeighbours, readKernelRoutes, readNeighbours, readVtyshRoutes } from '../lab/upstream.ts';
import type { Command } from './main.ts';

const HELP = `Usage: purelb status [--kubeconfig PATH] [--namespace purelb] [-o table|json]
                     [--upstream NETNS [--upstream-vty DIR]]

  Pools (used/free per family), Services (address, group, local/virtual, announcing nodes, ETP) and
  per-node routing (daemon, sessions, advertised prefixes from RouterConfig status).
  --upstream NETNS   add the routes of the router in that network namespace (kernel FIB; with
                     --upstream-vty DIR, FRR's "show ip route json" through that vty socket dir)`;

export const command: Command = {
  summary: 'Show pools, Services, announcing nodes and routing sessions (-o json for scripts)',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', short: 'n', default: DEFAULT_NAMESPACE },
        output: { type: 'string', short: 'o', default: 'table' },
        upstream: { type: 'string' },
        'upstream-vty': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (values.output !== 'table' && values.output !== 'json') {
      console.error(`purelb status: -o ${values.output}: use table or json`);
      return 2;
    }
    const kc = loadKubeConfig(values.kubeconfig);
    const inputs = await readStatusInputs(kc, values.namespace);
    let upstream: { netns: string; routes: UpstreamRoutes; nodeByIP: Record<string, string> } | undefined;
    if (values.upstream) {
      const netns = values.upstream;
      const routes = values['upstream-vty']
        ? await readVtyshRoutes(netns, values['upstream-vty'])
        : await readKernelRoutes(netns);
      upstream = { netns, routes, nodeByIP: nameByNeighbours(await readNodesByIP(kc), await readNeighbours(netns)) };
    }
    const report = buildStatusReport({ ...inputs, ...(upstream ? { upstream } : {}) });
    console.log(values.output === 'json' ? JSON.stringify(report, null, 2) : renderStatus(report));
    return 0;
  },
};
