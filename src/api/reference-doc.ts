// Renders docs/reference.md from the CRD schemas (allCRDs) and the annotation keys (ANN), so the
// configuration reference cannot drift from what the apiserver enforces (a unit test compares the file).
// `npm run gen:docs` writes it.
import { ANN, BRAND, DEFAULT_LB_CLASS } from './annotations.ts';
import { allCRDs, type Schema } from './crds.ts';
import {
  HEARTBEAT_LABEL,
  NODE_LABELS_ANNOTATION,
  OUT_OF_SERVICE_ANNOTATION,
  ROUTING_REJECTED_ANNOTATION,
  SEGMENT_LABEL_PREFIX,
  segmentLabel,
} from '../model/heartbeat.ts';
import type { Ineligibility } from '../model/eligibility.ts';

interface AnnotationDoc {
  on: string;
  setBy: string;
  text: string;
}

// Keyed by ANN's keys: adding an annotation to ANN without documenting it is a type error.
const ANNOTATIONS: Record<keyof typeof ANN, AnnotationDoc> = {
  serviceGroup: {
    on: 'Service',
    setBy: 'user',
    text: 'Name of the ServiceGroup (in the install namespace) to allocate from. Without it, and without a requested address, the group named `default` is used.',
  },
  addresses: {
    on: 'Service',
    setBy: 'user',
    text: 'Requested address(es), comma separated, at most one per family (`192.168.10.240,fd00:10::f0`); spaces around entries are ignored. The pool is found by the address; this overrides `purelb.io/service-group`. `spec.loadBalancerIP` is honoured the same way when this is absent.',
  },
  allowSharedIP: {
    on: 'Service',
    setBy: 'user',
    text: 'Sharing key. Services with the same key share one address per family when their (protocol, port) sets do not overlap; a conflicting Service gets an `AllocationFailed` event and no address.',
  },
  allowLocal: {
    on: 'Service',
    setBy: 'user',
    text: 'Accepted for PureLB v1 manifests. PureLB needed it to keep `externalTrafficPolicy: Local` on a local address; here ETP Local is always honoured by electing among nodes with a ready endpoint, and the Service spec is never rewritten.',
  },
  allocatedBy: {
    on: 'Service',
    setBy: 'allocator',
    text: `\`${BRAND}\` on every Service the allocator gave an address. The node agent acts only on Services carrying it.`,
  },
  allocatedFrom: {
    on: 'Service',
    setBy: 'allocator',
    text: 'Name of the ServiceGroup the address came from. Removed when the Service stops being of type LoadBalancer.',
  },
  announcingIPv4: {
    on: 'Service',
    setBy: 'lbnodeagent',
    text: '`<node>,<interface>` of the node that holds the local IPv4 address (written by the elected node, only when it changes, and only if the Service is unchanged since the node decided). The election keeps the address with this node while it is a candidate. Absent for virtual addresses, which every eligible node announces.',
  },
  announcingIPv6: {
    on: 'Service',
    setBy: 'lbnodeagent',
    text: 'As `purelb.io/announcing-IPv4`, for the local IPv6 address.',
  },
};

const OTHER_KEYS: Array<[string, AnnotationDoc]> = [
  [
    OUT_OF_SERVICE_ANNOTATION,
    {
      on: 'Lease `purelb-node-<node>`',
      setBy: 'lbnodeagent',
      text: 'Why the node is out of service (e.g. `it is cordoned (spec.unschedulable)`), while it is. The agent stops renewing the Lease, sets its renew time in the past and keeps it: the peers re-elect at once and report the node as `excluded`. The first renewal after the node is back removes it. Shutdown deletes the Lease.',
    },
  ],
  [
    'purelb.io/subnets',
    {
      on: 'Lease `purelb-node-<node>`',
      setBy: 'lbnodeagent',
      text: "Comma list of the subnets (CIDRs) this node can announce local addresses in. Only nodes whose heartbeat Lease is fresh and lists the address's subnet take part in its election.",
    },
  ],
  [
    NODE_LABELS_ANNOTATION,
    {
      on: 'Lease `purelb-node-<node>`',
      setBy: 'lbnodeagent',
      text: 'JSON object of the node\'s labels whose keys some ServiceGroup `nodeSelectors` / `preferredNodeSelectors` read (e.g. `{"topology.kubernetes.io/zone":"b"}`); absent when no selector is set. The peers evaluate the selectors against it, so no agent watches other Nodes. Rewritten only when those labels or the selectors change.',
    },
  ],
  [
    ROUTING_REJECTED_ANNOTATION,
    {
      on: 'Lease `purelb-node-<node>`',
      setBy: 'lbnodeagent (routing)',
      text: "While the node's last routing reload was `Rejected` or `Failed` (its daemon keeps running the previous config): which RouterConfig and the result, e.g. `RouterConfig purelb/default: Rejected`. Written at once on a change, removed by the next `Applied` reload (or when no RouterConfig selects the node). The node still carries its virtual addresses; the allocator's `NoEligibleNode` event names it `routing rejected` when no other eligible node's routing is fine.",
    },
  ],
  [
    HEARTBEAT_LABEL,
    {
      on: 'Lease `purelb-node-<node>` (label)',
      setBy: 'lbnodeagent',
      text: '`node` on every heartbeat Lease.',
    },
  ],
  [
    `${SEGMENT_LABEL_PREFIX}<id>`,
    {
      on: 'Lease `purelb-node-<node>` (label)',
      setBy: 'lbnodeagent',
      text: `One label per subnet in \`purelb.io/subnets\`: \`<id>\` is the first 16 hex digits of sha256 of the subnet in canonical form (network address, compressed IPv6), the value its family, \`4\` or \`6\` (e.g. \`${segmentLabel('192.168.77.0/24')}: "4"\` for 192.168.77.0/24). Each agent watches only the heartbeat Leases with the labels of its own subnets (\`${HEARTBEAT_LABEL}=node,${SEGMENT_LABEL_PREFIX}<id>\`, one watch per subnet), since only nodes on an address's subnet take part in its election. Removed when the node no longer has the subnet.`,
    },
  ],
  [
    'spec.loadBalancerClass',
    {
      on: 'Service',
      setBy: 'user',
      text: `Services with no class or class \`${DEFAULT_LB_CLASS}\` are handled (the allocator's \`--lb-class\` changes the class); Services of any other class are left alone.`,
    },
  ],
];

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;

function typeOf(s: Schema): string {
  if (s['x-kubernetes-int-or-string']) return 'int or string';
  if (s.type === 'array') return `[]${typeOf((s.items ?? {}) as Schema)}`;
  if (s.type === 'object' && s.additionalProperties) return `map[string]${typeOf(s.additionalProperties as Schema)}`;
  return typeof s.type === 'string' ? s.type : 'any';
}

function constraints(s: Schema, required: boolean): string {
  const out: string[] = [];
  if (required) out.push('required');
  if (s.enum) out.push(`one of ${(s.enum as unknown[]).map((v) => code(String(v))).join(', ')}`);
  if (s.default !== undefined) out.push(`default ${code(JSON.stringify(s.default))}`);
  if (s.minimum !== undefined || s.maximum !== undefined)
    out.push(`${(s.minimum as number | undefined) ?? ''}..${(s.maximum as number | undefined) ?? ''}`);
  if (s.maxLength !== undefined) out.push(`max length ${s.maxLength as number}`);
  if (s.minItems !== undefined) out.push(`min items ${s.minItems as number}`);
  if (s.maxItems !== undefined) out.push(`max items ${s.maxItems as number}`);
  if (s.maxProperties !== undefined) out.push(`max entries ${s.maxProperties as number}`);
  if (s.pattern) out.push(`pattern ${code(s.pattern as string)}`);
  if (s.format) out.push(`format ${s.format as string}`);
  return out.join('; ');
}

interface Row {
  path: string;
  type: string;
  constraints: string;
  description: string;
}
interface Rule {
  path: string;
  rule: string;
  message: string;
}

/**
 * Depth-first walk: one row per field (`row` false for array items and map values, which are not fields
 * of their own), one entry per CEL rule, in schema order.
 */
function walk(s: Schema, path: string, required: boolean, rows: Row[], rules: Rule[], row = true): void {
  if (row)
    rows.push({
      path,
      type: typeOf(s),
      constraints: constraints(s, required),
      description: typeof s.description === 'string' ? s.description : '',
    });
  for (const r of (s['x-kubernetes-validations'] ?? []) as Array<{ rule: string; message: string }>)
    rules.push({ path, ...r });
  const req = new Set((s.required ?? []) as string[]);
  for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, Schema>))
    walk(child, `${path}.${name}`, req.has(name), rows, rules);
  if (s.type === 'array' && s.items) walk(s.items as Schema, `${path}[]`, false, rows, rules, false);
  if (s.additionalProperties && typeof s.additionalProperties === 'object')
    walk(s.additionalProperties as Schema, `${path}.<key>`, false, rows, rules, false);
}

function crdSection(crd: Schema): string[] {
  const spec = crd.spec as {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames?: string[] };
    versions: Array<{
      name: string;
      subresources?: Schema;
      additionalPrinterColumns?: Array<{ name: string; jsonPath: string }>;
      schema: { openAPIV3Schema: { properties: Record<string, Schema> } };
    }>;
  };
  const out: string[] = [];
  for (const v of spec.versions) {
    out.push(`## ${spec.names.kind}`, '');
    out.push(
      `\`${spec.group}/${v.name}\`, ${spec.scope.toLowerCase()}, plural \`${spec.names.plural}\`` +
        `${spec.names.shortNames?.length ? `, short names ${spec.names.shortNames.map(code).join(', ')}` : ''}` +
        `${v.subresources?.status ? ', status subresource' : ''}.` +
        (v.additionalPrinterColumns
          ? ` \`kubectl get\` columns: ${v.additionalPrinterColumns.map((c) => c.name).join(', ')}.`
          : ''),
      '',
    );
    for (const part of ['spec', 'status']) {
      const schema = v.schema.openAPIV3Schema.properties[part];
      if (!schema) continue;
      const rows: Row[] = [];
      const rules: Rule[] = [];
      walk(schema, part, false, rows, rules);
      out.push(
        `### ${spec.names.kind} ${part}`,
        '',
        '| Field | Type | Constraints | Description |',
        '|---|---|---|---|',
      );
      for (const r of rows)
        out.push(`| ${code(r.path)} | ${esc(r.type)} | ${esc(r.constraints)} | ${esc(r.description)} |`);
      out.push('');
      if (rules.length) {
        out.push(`Admission rules (CEL) on ${spec.names.kind} ${part}; a violation is refused with this message:`, '');
        for (const r of rules) out.push(`- ${code(r.path)}: ${esc(r.message)}`);
        out.push('');
      }
    }
  }
  return out;
}

// Keyed by the model's reasons: a new reason without a description is a type error.
const INELIGIBILITY_TEXT: Record<Ineligibility, string> = {
  excluded:
    'the node is out of service: cordoned, or labelled `node.kubernetes.io/exclude-from-external-load-balancers` (its Lease carries `purelb.io/out-of-service`)',
  fenced: "the node's heartbeat Lease expired: its agent is down or cannot reach the apiserver",
  'not selected': "the node's labels match none of the ServiceGroup's `nodeSelectors`",
  'no endpoint': '`externalTrafficPolicy: Local` and no ready or serving endpoint of the Service on the node',
  'not on the subnet':
    "local address: none of the node's local interfaces is on the address's subnet (Lease `purelb.io/subnets`)",
};

/** The events and the status column that say why a Service has no address or is not announced on a node. */
function whySection(): string[] {
  return [
    '## Why a Service has no address, or is not announced',
    '',
    '| Event reason (type) | On | From | When |',
    '|---|---|---|---|',
    '| `AllocationFailed` (Warning) | Service | allocator | No address could be assigned (or the new request cannot be met; the old address is kept). The note names the cause and the fix: scope refused (`Service NS/NAME may not use ServiceGroup G (...): ...; ... or widen spec.serviceAllocation of ServiceGroup G`), group exhausted (`ServiceGroup G has no free IPv4 address; release an address or add a pool`), no pool for the family, an address outside every pool or in use, a sharing conflict. `purelb status` lists the Service under PENDING with the newest note. |',
    '| `NoEligibleNode` (Warning) | Service | allocator (the leader, which watches every heartbeat Lease) | An address of the Service has no node that may announce it: for a virtual address, also when every eligible node has its routing rejected (Lease `purelb.io/routing-rejected`). The note names each node with a heartbeat Lease and its reason (below; at most 10 nodes, the rest counted per reason). Written when this starts or the reasons change (or a new leader takes over), not on every resync; not while no node has a heartbeat Lease at all. When a node becomes eligible, it announces the address and writes `AnnouncingLocal` / `AnnouncingNonLocal`. |',
    "| `AnnouncingLocal`, `AnnouncingNonLocal`, `Withdrawn` (Normal) | Service | lbnodeagent (each node) | This node started or stopped announcing an address of the Service; `Withdrawn` says why (e.g. `node n1 is not selected by ServiceGroup G's nodeSelectors {zone=b}`). |",
    "| `RoutingConfigRejected`, `RoutingReloadFailed` (Warning) | RouterConfig | lbnodeagent (routing) | The node's daemon keeps its previous config; see RouterConfig status. |",
    '',
    '`purelb status` shows the same per node in the **NOT ELIGIBLE** column of SERVICES (`node (reason)`),',
    'for every node with a heartbeat Lease, by the rule the agents elect with (`src/model/eligibility.ts`):',
    '',
    '| Reason | Meaning |',
    '|---|---|',
    ...Object.entries(INELIGIBILITY_TEXT).map(([why, text]) => `| \`${why}\` | ${esc(text)} |`),
    '| `routing rejected` | virtual address: the node carries it, but its last routing reload was `Rejected` or `Failed`: in the event, from its Lease `purelb.io/routing-rejected` (written only when no eligible node has routing that is fine); in `purelb status`, from its NodeRoutingStatus and only when the config it runs does not advertise the address |',
    '',
  ];
}

export function renderReference(): string {
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/api/crds.ts, src/api/crd-routerconfig.ts and src/api/annotations.ts by',
    '     `npm run gen:docs`; test/unit/deploy-docs.test.ts fails when this file differs. Edit the sources. -->',
    '',
    'Every field of the `purelb.io/v1` kinds as the apiserver enforces it (OpenAPI schema and CEL rules',
    'in `crds/`), and every annotation. Admission checks what it can; the validator behind',
    '`purelb validate -f FILE` and the components checks the rest (overlaps between pools and groups,',
    'strict address literals, duplicate names) and reports it as an event and a condition.',
    '',
  ];
  for (const crd of Object.values(allCRDs())) lines.push(...crdSection(crd));
  lines.push('## Annotations and other keys', '', '| Key | On | Set by | Meaning |', '|---|---|---|---|');
  const keys: Array<[string, AnnotationDoc]> = [
    ...(Object.keys(ANN) as Array<keyof typeof ANN>).map((k): [string, AnnotationDoc] => [ANN[k], ANNOTATIONS[k]]),
    ...OTHER_KEYS,
  ];
  for (const [key, d] of keys) lines.push(`| ${code(key)} | ${esc(d.on)} | ${d.setBy} | ${esc(d.text)} |`);
  lines.push('', ...whySection());
  return lines.join('\n');
}
