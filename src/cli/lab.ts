// `purelb lab up | status | down`: the one-machine lab (docs/lab.md).
import { parseArgs } from 'node:util';
import { downLab, openLab, renderLab, upLab } from '../lab/lab.ts';
import { DEFAULT_OPTIONS, type Daemon, type LabOptions, type Protocol } from '../lab/plan.ts';
import type { Command } from './main.ts';

const d = DEFAULT_OPTIONS;
const HELP = `Usage: purelb lab up [options] | status [--name N] | down [--name N]      (needs root)

  up      builds a routed cluster on this machine: kube-apiserver + etcd, ${d.nodes} node namespaces on one LAN
          behind a ToR namespace running FRR, a client namespace, the allocator, one agent and one routing
          daemon per node, sample ServiceGroups/Services; prints the table and 30 requests per address
  status  prints the table again (pools, Services, announcing nodes, ToR next hops, request spread)
  down    removes every namespace, process and file the lab created (also after a failed up)

Options of up:
  --name NAME            prefix of every namespace/link/dir (default ${d.name}; 1-6 lower-case letters/digits)
  --nodes N              node namespaces (default ${d.nodes})
  --lan CIDR             LAN of nodes and ToR; give it twice for IPv4 + IPv6 (default ${d.lan.v4} ${d.lan.v6})
  --daemon bird|frr|gobgp   routing daemon on the nodes (default ${d.daemon})
  --protocol bgp|ospf    (default ${d.protocol}; gobgp has no OSPF)
  --node-asn N           ASN of the nodes (default ${d.nodeASN})
  --tor-asn N            ASN of the ToR (default ${d.torASN})
  --bfd                  BFD between nodes and ToR (BGP)
  --no-samples           no sample ServiceGroups/Services: apply your own with the printed kubeconfig
  --processes            fast development mode: the allocator, agents and routing daemons as plain processes
                         on a bare apiserver (no kubelet, no images; HTTP responders stand in for pods)`;

const DAEMONS: Daemon[] = ['bird', 'frr', 'gobgp'];
const PROTOCOLS: Protocol[] = ['bgp', 'ospf'];

/** The options `lab up` parses; shell completion offers the same ones. */
const UP_OPTIONS = {
  name: { type: 'string' },
  nodes: { type: 'string' },
  lan: { type: 'string', multiple: true },
  daemon: { type: 'string' },
  protocol: { type: 'string' },
  'node-asn': { type: 'string' },
  'tor-asn': { type: 'string' },
  'no-samples': { type: 'boolean' },
  bfd: { type: 'boolean' },
  processes: { type: 'boolean' },
} as const;
/** `lab status` and `lab down` take only the lab's name. */
const NAME_OPTIONS = { name: { type: 'string' } } as const;

/** Pure: argv of `lab up` -> options (throws naming the flag). */
export function parseUpOptions(argv: string[]): LabOptions {
  const { values } = parseArgs({ args: argv, options: UP_OPTIONS });
  const int = (flag: string, v: string | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    if (!/^[0-9]+$/.test(v)) throw new Error(`--${flag} ${v}: expected a positive integer`);
    return Number(v);
  };
  const oneOf = <T extends string>(flag: string, v: string | undefined, allowed: T[], dflt: T): T => {
    if (v === undefined) return dflt;
    if (!allowed.includes(v as T)) throw new Error(`--${flag} ${v}: use one of ${allowed.join(', ')}`);
    return v as T;
  };
  let lan = d.lan;
  if (values.lan) {
    const v4 = values.lan.filter((c) => !c.includes(':'));
    const v6 = values.lan.filter((c) => c.includes(':'));
    if (v4.length !== 1 || v6.length > 1)
      throw new Error('--lan: give exactly one IPv4 CIDR and at most one IPv6 CIDR (repeat --lan for both)');
    lan = { v4: v4[0]!, ...(v6[0] ? { v6: v6[0] } : {}) };
  }
  return {
    name: values.name ?? d.name,
    nodes: int('nodes', values.nodes, d.nodes),
    lan,
    daemon: oneOf('daemon', values.daemon, DAEMONS, d.daemon),
    protocol: oneOf('protocol', values.protocol, PROTOCOLS, d.protocol),
    nodeASN: int('node-asn', values['node-asn'], d.nodeASN),
    torASN: int('tor-asn', values['tor-asn'], d.torASN),
    samples: !values['no-samples'],
    bfd: values.bfd ?? false,
    ...(values.processes ? { processes: true } : {}),
  };
}

function nameOnly(argv: string[]): string {
  return parseArgs({ args: argv, options: NAME_OPTIONS }).values.name ?? d.name;
}

const progress = (start: number) => (msg: string) =>
  console.error(`[${((Date.now() - start) / 1000).toFixed(1).padStart(5)} s] ${msg}`);

export const command: Command = {
  summary: 'One-machine lab: up | status | down (needs root)',
  subcommands: {
    up: { summary: 'bring a lab up', options: UP_OPTIONS, choices: { daemon: DAEMONS, protocol: PROTOCOLS } },
    status: { summary: "reprint the lab's table", options: NAME_OPTIONS },
    down: { summary: 'remove everything the lab created', options: NAME_OPTIONS },
  },
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h' || rest.includes('--help')) {
      console.log(HELP);
      return sub ? 0 : 2;
    }
    try {
      switch (sub) {
        case 'up': {
          const lab = await upLab(parseUpOptions(rest), progress(Date.now()));
          console.log(await renderLab(lab));
          return 0;
        }
        case 'status':
          console.log(await renderLab(openLab(nameOnly(rest))));
          return 0;
        case 'down':
          await downLab(nameOnly(rest), progress(Date.now()));
          return 0;
        default:
          console.error(`purelb lab: unknown subcommand "${sub}"\n\n${HELP}`);
          return 2;
      }
    } catch (err) {
      console.error(`purelb lab ${sub}: ${(err as Error).message}`);
      return 1;
    }
  },
};
