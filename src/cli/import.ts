// `purelb import --from metallb|purelb-v2 -f FILE...`: converts another installation's configuration
// into purelb.io/v1 objects on stdout and reports on stderr what could not be mapped. Nothing is applied.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dump } from 'js-yaml';
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';
import { parseCIDR, type CIDR } from '../api/ip.ts';
import { DAEMONS, type Daemon } from '../api/validate-routerconfig.ts';
import { InputError, parseDocuments } from '../import/input.ts';
import { importMetalLB } from '../import/metallb.ts';
import { importPureLBv2 } from '../import/purelb-v2.ts';
import { formatUnmapped, type ImportResult, type SourceObject } from '../import/report.ts';
import type { Command } from './main.ts';
import { UsageError } from './options.ts';

/** Output was written but some things were not mapped (listed on stderr). */
export const EXIT_PARTIAL = 3;

const HELP = `Usage: purelb import --from metallb|purelb-v2 -f FILE [-f FILE...] [options]   (FILE "-" reads stdin)

Converts another load balancer's configuration into purelb.io/v1 objects (ServiceGroup, LBNodeAgent,
RouterConfig) and writes them as YAML to stdout. Nothing is applied: review the output, then
kubectl apply it. Every object written passes the same validation as \`purelb validate\`.
Input: multi-document YAML or kubectl lists (kubectl get ... -o yaml).

Options:
  --from metallb|purelb-v2   source: MetalLB v0.13+ (metallb.io/v1beta1, v1beta2) or PureLB purelb.io/v2
  -f, --file FILE            input file, repeatable; "-" is stdin
  -n, --namespace NS         namespace of the objects written (default ${DEFAULT_NAMESPACE})
  --daemon bird|frr|gobgp    routing daemon of the RouterConfigs (metallb; required with BGPPeers)
  --node-subnet CIDR         a subnet of the nodes' LAN, repeatable (metallb): pools inside one become
                             local pools, others virtual. Nodes in the input (kubectl get nodes -o yaml)
                             add the /24 or /64 around each InternalIP that no --node-subnet holds.
  --default-pool NAME        the MetalLB pool whose ServiceGroup is named "default" (the group
                             Services without purelb.io/service-group use)
  --service-patches FILE     write the Service patches (metallb annotations mapped to purelb.io ones,
                             current addresses pinned) to FILE; apply with
                             kubectl apply --server-side --field-manager=purelb-import -f FILE

stderr lists "<source object>: <field>: <reason>" for everything not mapped, and "# ..." notes.
Exit codes: 0 everything mapped; ${EXIT_PARTIAL} output written but something was not mapped;
2 usage error or unreadable input (the message names the file and document).
`;

const toYaml = (objs: readonly object[]) => objs.map((o) => dump(o, { lineWidth: 120, noRefs: true })).join('---\n');

function readInputs(files: readonly string[]): SourceObject[] {
  const docs: SourceObject[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      throw new InputError(`${file}: cannot read: ${(err as Error).message}`);
    }
    docs.push(...parseDocuments(text, file === '-' ? '<stdin>' : file));
  }
  return docs;
}

const OPTIONS = {
  from: { type: 'string' },
  file: { type: 'string', short: 'f', multiple: true },
  namespace: { type: 'string', short: 'n', default: DEFAULT_NAMESPACE },
  daemon: { type: 'string' },
  'node-subnet': { type: 'string', multiple: true },
  'default-pool': { type: 'string' },
  'service-patches': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const command: Command = {
  options: OPTIONS,
  choices: { from: ['metallb', 'purelb-v2'], daemon: DAEMONS },
  summary: 'Convert MetalLB or PureLB v2 configuration into purelb.io/v1 objects (printed, not applied)',
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: OPTIONS });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (values.from !== 'metallb' && values.from !== 'purelb-v2')
      throw new UsageError(`--from must be metallb or purelb-v2, got ${JSON.stringify(values.from ?? '')}`);
    const files = values.file ?? [];
    if (files.length === 0) throw new UsageError('give at least one -f FILE ("-" for stdin)');
    if (values.daemon !== undefined && !(DAEMONS as readonly string[]).includes(values.daemon))
      throw new UsageError(`--daemon must be one of ${DAEMONS.join(', ')}, got "${values.daemon}"`);
    const subnets: CIDR[] = (values['node-subnet'] ?? []).map((text) => {
      const c = parseCIDR(text.trim());
      if (!c) throw new UsageError(`--node-subnet "${text}" is not a CIDR; write e.g. 192.168.10.0/24 or fd00:10::/64`);
      return c;
    });
    if (values.from === 'purelb-v2')
      for (const flag of ['daemon', 'node-subnet', 'default-pool', 'service-patches'] as const)
        if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to --from metallb only`);

    let docs: SourceObject[];
    try {
      docs = readInputs(files);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      console.error(`purelb import: ${err.message}`);
      return 2;
    }
    if (
      values.from === 'metallb' &&
      !values.daemon &&
      docs.some((d) => d.kind === 'BGPPeer' && d.apiVersion?.startsWith('metallb.io/'))
    )
      throw new UsageError(
        'the input has BGPPeers: choose the routing daemon of the RouterConfigs with --daemon bird|frr|gobgp',
      );

    const result: ImportResult =
      values.from === 'metallb'
        ? importMetalLB(docs, {
            namespace: values.namespace,
            nodeSubnets: subnets,
            ...(values.daemon ? { daemon: values.daemon as Daemon } : {}),
            ...(values['default-pool'] ? { defaultPool: values['default-pool'] } : {}),
          })
        : importPureLBv2(docs, { namespace: values.namespace });

    if (result.objects.length) process.stdout.write(toYaml(result.objects));
    const unmapped = result.unmapped.map(formatUnmapped);
    // written even when empty, so the file never holds the patches of an earlier run
    if (values['service-patches']) {
      const text = toYaml(result.servicePatches);
      writeFileSync(values['service-patches'], text && !text.endsWith('\n') ? `${text}\n` : text);
    } else
      unmapped.push(
        ...result.servicePatches.map(
          (p) =>
            `Service ${p.metadata.namespace}/${p.metadata.name}: metadata.annotations: patch not written; give --service-patches FILE`,
        ),
      );
    for (const note of result.notes) console.error(`# ${note}`);
    for (const line of unmapped) console.error(line);
    console.error(
      `# ${result.objects.length} object(s) written${values['service-patches'] ? `, ${result.servicePatches.length} Service patch(es) written to ${values['service-patches']}` : ''}; ${unmapped.length} thing(s) not mapped`,
    );
    return unmapped.length ? EXIT_PARTIAL : 0;
  },
};
