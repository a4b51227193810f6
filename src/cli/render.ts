// `purelb render`: prints the daemon configuration the agent would apply on one node, offline, through
// the same validator and renderer the agent uses, so a RouterConfig can be reviewed before it ships.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadAll } from 'js-yaml';
import { parseRouterConfig, type RouterConfigSpec } from '../api/validate-routerconfig.ts';
import { formatProblem } from '../api/validation.ts';
import { advertisedPrefixes } from '../routing/advertiser.ts';
import { gobgpCallPlan } from '../routing/gobgp/messages.ts';
import { renderNodeConfig, routerID, type NodeRoutingInput } from '../routing/render.ts';
import type { Command } from './main.ts';

const HELP = `Usage: purelb render --config ROUTERCONFIG.yaml --node NAME --node-ip IP [--address CIDR ...]
                     [--name ROUTERCONFIG] [--interface kube-lb0]

Prints the configuration the node agent would apply for node NAME: bird.conf or frr.conf for daemon
bird/frr, or the gRPC calls (JSON) for daemon gobgp. The file may hold several documents; --name picks
a RouterConfig, else the first one is used (node selectors are not evaluated: the node's labels are not
known offline). Passwords from Secrets are shown as from-secret:<name>:<key>. --address lists the
node's virtual addresses; BIRD and FRR read them from the interface, so they change only the GoBGP output.
Exit codes: 0 printed, 1 invalid RouterConfig, 2 usage error.
`;

export function renderForNode(
  doc: unknown,
  node: string,
  nodeIP: string,
  addresses: string[],
  kubeInterface = 'kube-lb0',
): string {
  const { config, problems } = parseRouterConfig(doc);
  if (!config) throw new Error(problems.map(formatProblem).join('\n'));
  const input: NodeRoutingInput = {
    config,
    nodeName: node,
    nodeIP,
    kubeInterface,
    passwords: placeholderPasswords(config),
  };
  if (config.daemon !== 'gobgp') return renderNodeConfig(input).text;
  return (
    JSON.stringify(
      gobgpCallPlan(config.bgp!, routerID(input), input.passwords, advertisedPrefixes(addresses)),
      null,
      2,
    ) + '\n'
  );
}

const placeholderPasswords = (config: RouterConfigSpec): Record<string, string> =>
  Object.fromEntries(
    (config.bgp?.peers ?? [])
      .filter((p) => p.passwordSecretRef)
      .map((p) => [p.address, `from-secret:${p.passwordSecretRef!.name}:${p.passwordSecretRef!.key}`]),
  );

/** The options run() parses; shell completion offers the same ones. */
const OPTIONS = {
  config: { type: 'string', short: 'c' },
  node: { type: 'string' },
  'node-ip': { type: 'string' },
  address: { type: 'string', multiple: true },
  name: { type: 'string' },
  interface: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const command: Command = {
  options: OPTIONS,
  summary: 'Print the BIRD/FRR config (or GoBGP calls) the agent would apply on a node',
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        options: OPTIONS,
      }));
    } catch (err) {
      console.error(`purelb render: ${(err as Error).message}\n\n${HELP}`);
      return 2;
    }
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values.config || !values.node || !values['node-ip']) {
      console.error(`purelb render: --config, --node and --node-ip are required\n\n${HELP}`);
      return 2;
    }
    const docs = loadAll(readFileSync(values.config === '-' ? 0 : values.config, 'utf8')) as Array<{
      kind?: string;
      metadata?: { name?: string };
    }>;
    const doc = docs.find((d) => d?.kind === 'RouterConfig' && (!values.name || d.metadata?.name === values.name));
    if (!doc) {
      console.error(`purelb render: no RouterConfig${values.name ? ` named ${values.name}` : ''} in ${values.config}`);
      return 2;
    }
    try {
      process.stdout.write(renderForNode(doc, values.node, values['node-ip'], values.address ?? [], values.interface));
      return 0;
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
  },
};
