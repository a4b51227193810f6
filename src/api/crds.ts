// The CustomResourceDefinitions of purelb.io/v1, as data. `crds/*.yaml` is generated from here
// (scripts/gen-crds.ts) and a unit test fails when the committed files drift from this source.
// CEL rules check at admission what they can; src/api/validate-*.ts checks everything (overlaps etc.).

import { GROUP, VERSION } from './names.ts';
import { nodeRoutingStatusCRD } from './crd-noderoutingstatus.ts';
import { routerConfigCRD } from './crd-routerconfig.ts';

export type Schema = Record<string, unknown>;

export { GROUP, VERSION };

export const str = (maxLength: number, description: string, extra: Schema = {}): Schema => ({
  type: 'string',
  maxLength,
  description,
  ...extra,
});

export const AGGREGATION_PATTERN = '^(default|/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))$';

/**
 * CEL rules for a pool/subnet/aggregation trio on the object `self` (an entry, or spec.local for the
 * legacy form). Each rule is guarded so that a malformed field yields only its own message.
 */
function poolRules(family?: 4 | 6): Schema[] {
  const rangeOK = "self.pool.split('-').size() == 2 && self.pool.split('-').all(a, isIP(a.trim()))";
  const max = family ? String(family === 4 ? 32 : 128) : '(cidr(self.subnet).ip().family() == 4 ? 32 : 128)';
  const rules: Schema[] = [
    { rule: 'isCIDR(self.subnet)', message: 'subnet must be a CIDR such as 192.168.10.0/24 or fd00:1::/64' },
    {
      rule: `isCIDR(self.pool) || (${rangeOK})`,
      message: 'pool must be a CIDR (e.g. 192.168.10.240/29) or a range "from-to" (e.g. 192.168.10.240-192.168.10.243)',
    },
    {
      // a CIDR pool runs to the end of its network, so it is inside iff the subnet contains that network
      rule: `!isCIDR(self.subnet) || (isCIDR(self.pool) ? cidr(self.subnet).containsCIDR(cidr(self.pool)) : !(${rangeOK}) || self.pool.split('-').all(a, cidr(self.subnet).containsIP(ip(a.trim()))))`,
      message: 'pool must lie inside subnet (and be of the same IP family)',
    },
    {
      rule: `!has(self.aggregation) || self.aggregation == 'default' || !isCIDR(self.subnet) || int(self.aggregation.substring(1)) <= ${max}`,
      message: family
        ? `aggregation must be "default" or /0../${max} for IPv${family}`
        : 'aggregation must be "default" or /0../32 for IPv4 and /0../128 for IPv6',
    },
  ];
  if (family) {
    rules.push({
      rule: `!isCIDR(self.subnet) || cidr(self.subnet).ip().family() == ${family}`,
      message: `subnet must be an IPv${family} CIDR in a v${family}pool`,
    });
  }
  return rules;
}

/** One `{pool, subnet, aggregation}` entry of v4pool(s)/v6pool(s). */
function poolSchema(family: 4 | 6): Schema {
  return {
    type: 'object',
    required: ['pool', 'subnet'],
    'x-kubernetes-validations': poolRules(family),
    properties: {
      pool: str(128, 'CIDR (runs from the address as written to the end of its network) or "from-to" range.'),
      subnet: str(64, "Subnet (CIDR) that contains the pool. For local pools, the subnet of the nodes' LAN."),
      aggregation: str(8, 'Prefix length of virtual addresses on kube-lb0: "default" (the subnet\'s prefix) or "/N".', {
        pattern: AGGREGATION_PATTERN,
      }),
    },
  };
}

const conditions: Schema = {
  type: 'array',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    required: ['type', 'status'],
    properties: {
      type: str(64, 'Condition type.'),
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      reason: str(128, 'Machine-readable reason.'),
      message: str(4096, 'Human-readable message naming the field and the fix.'),
      lastTransitionTime: { type: 'string', format: 'date-time' },
      observedGeneration: { type: 'integer', format: 'int64' },
    },
  },
};

export const int64 = (description: string): Schema => ({ type: 'integer', format: 'int64', description });

/** A namespaced purelb.io/v1 CRD; spec undefined for a kind that is only an observation (NodeRoutingStatus). */
export function crd(
  kind: string,
  plural: string,
  shortNames: string[],
  spec: Schema | undefined,
  extra: Schema,
): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        shortNames,
        categories: ['purelb'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...extra,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                ...(spec ? { spec } : {}),
              },
            },
          },
        },
      ],
    },
  };
}

const LABEL_KEY =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
const LABEL_VALUE = '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$';

/** A metav1.LabelSelector (matchLabels AND every matchExpression). */
function labelSelectorSchema(description: string): Schema {
  return {
    type: 'object',
    description,
    properties: {
      matchLabels: {
        type: 'object',
        maxProperties: 32,
        description: 'Labels that must all be present with these values.',
        additionalProperties: str(63, 'Label value.', { pattern: LABEL_VALUE }),
        'x-kubernetes-validations': [
          {
            rule: `self.all(k, size(k) <= 317 && k.matches(r'${LABEL_KEY}'))`,
            message: 'matchLabels keys must be label keys ([prefix/]name)',
          },
        ],
      },
      matchExpressions: {
        type: 'array',
        maxItems: 32,
        description: 'Requirements that must all hold.',
        items: {
          type: 'object',
          required: ['key', 'operator'],
          'x-kubernetes-validations': [
            {
              rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
              message: 'In and NotIn need values; Exists and DoesNotExist take none',
            },
          ],
          properties: {
            key: str(317, 'Label key.', { pattern: LABEL_KEY }),
            operator: {
              type: 'string',
              enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
              description: 'How key and values are compared.',
            },
            values: {
              type: 'array',
              maxItems: 64,
              description: 'Values the label is compared with (In, NotIn).',
              items: str(63, 'Label value.', { pattern: LABEL_VALUE }),
            },
          },
        },
      },
    },
  };
}

/** spec.autoAssign and spec.serviceAllocation: who may use a group, and when it is chosen by default. */
function tenancyProperties(): Schema {
  return {
    autoAssign: {
      type: 'boolean',
      description:
        'MetalLB IPAddressPool name and meaning. false reserves the group for Services that ask for it (purelb.io/service-group, or a pinned address): it is never chosen for a Service that names no group. Default true. The group named "default" cannot set false.',
    },
    serviceAllocation: {
      type: 'object',
      description:
        'Which Services may use this group (MetalLB IPAddressPool names). A Service outside it that asks for the group is refused with a Warning event; a Service that already holds an address keeps it when the scope narrows (condition HoldersOutOfScope). Absent: every Service.',
      'x-kubernetes-validations': [
        {
          rule: '!has(self.namespaceDefault) || !self.namespaceDefault || (has(self.namespaces) && size(self.namespaces) > 0)',
          message: 'namespaceDefault needs namespaces: list the namespaces this group is the default of',
        },
      ],
      properties: {
        namespaces: {
          type: 'array',
          maxItems: 256,
          description: 'Namespaces by name. With namespaceSelectors, a namespace is admitted if either admits it.',
          items: str(63, 'Namespace name.', { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
        },
        namespaceSelectors: {
          type: 'array',
          maxItems: 16,
          description:
            'Namespaces by label: any selector that matches admits the namespace. The allocator then watches Namespaces.',
          items: labelSelectorSchema('Namespace label selector.'),
        },
        serviceSelectors: {
          type: 'array',
          maxItems: 16,
          description:
            'Services by label: any selector that matches admits the Service (and its namespace must be admitted too).',
          items: labelSelectorSchema('Service label selector.'),
        },
        namespaceDefault: {
          type: 'boolean',
          description:
            'PureLB 0.17 name and meaning: Services in the listed namespaces that name no group get this group instead of "default" (when serviceSelectors admit them). At most one group per namespace; not with autoAssign false.',
        },
      },
    },
  };
}

/** A list of label selectors over Node labels (ServiceGroup announcement placement): a node is selected
 * when any one matches. An empty selector would select every node, so it is refused. */
function nodeSelectorsSchema(description: string): Schema {
  const selector = labelSelectorSchema(
    'A label selector over Node labels: every matchLabels entry and every matchExpressions entry must hold.',
  );
  return {
    type: 'array',
    maxItems: 16,
    description,
    items: {
      ...selector,
      'x-kubernetes-validations': [
        ...((selector['x-kubernetes-validations'] as Schema[] | undefined) ?? []),
        {
          rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)',
          message: 'an empty selector would select every node; remove it or set matchLabels/matchExpressions',
        },
      ],
    },
  };
}

// eslint-disable-next-line max-lines-per-function -- the CRD schema as one data literal, no logic
export function serviceGroupCRD(): Schema {
  const spec: Schema = {
    type: 'object',
    description:
      'Address pools for Services of type LoadBalancer. Set local; netbox is accepted for PureLB v1 manifests but not supported.',
    'x-kubernetes-validations': [
      { rule: 'has(self.local) || has(self.netbox)', message: 'spec must set local (address pools)' },
      {
        rule: '!has(self.autoAssign) || self.autoAssign || !has(self.serviceAllocation) || !has(self.serviceAllocation.namespaceDefault) || !self.serviceAllocation.namespaceDefault',
        message: 'autoAssign false (reserved) contradicts serviceAllocation.namespaceDefault true; remove one',
      },
    ],
    properties: {
      local: {
        type: 'object',
        description:
          "Pools. An address inside the subnet of a node's LAN interface is local (one elected node announces it); any other is virtual (kube-lb0 on every eligible node, advertised by routing).",
        'x-kubernetes-validations': [
          {
            rule: 'has(self.subnet) == has(self.pool)',
            message: 'spec.local.subnet and spec.local.pool (legacy form) must be set together',
          },
          ...poolRules().map((r) => ({
            ...r,
            rule: `!has(self.subnet) || !has(self.pool) || (${r.rule as string})`,
            message: `legacy form: ${r.message as string}`,
          })),
          {
            rule: 'has(self.subnet) || has(self.v4pool) || has(self.v6pool) || (has(self.v4pools) && size(self.v4pools) > 0) || (has(self.v6pools) && size(self.v6pools) > 0)',
            message: 'spec.local needs a pool: subnet+pool, v4pool, v6pool, v4pools or v6pools',
          },
        ],
        properties: {
          subnet: str(64, 'Legacy single-family form: subnet (CIDR) containing pool.'),
          pool: str(128, 'Legacy single-family form: CIDR or "from-to" range.'),
          aggregation: str(8, 'Legacy single-family form: "default" or "/N".', { pattern: AGGREGATION_PATTERN }),
          v4pool: { ...poolSchema(4), description: 'One IPv4 pool.' },
          v6pool: { ...poolSchema(6), description: 'One IPv6 pool.' },
          v4pools: {
            type: 'array',
            maxItems: 64,
            description: 'IPv4 pools, used in declaration order.',
            items: poolSchema(4),
          },
          v6pools: {
            type: 'array',
            maxItems: 64,
            description: 'IPv6 pools, used in declaration order.',
            items: poolSchema(6),
          },
        },
      },
      nodeSelectors: nodeSelectorsSchema(
        "Nodes that announce this group's addresses (the name and meaning of MetalLB's L2Advertisement/BGPAdvertisement nodeSelectors): a node is selected when any selector matches its labels. Virtual addresses go only on selected nodes' virtual interface; local addresses elect their owner only among selected nodes; with externalTrafficPolicy Local, only selected nodes with a ready endpoint. Unset: every node.",
      ),
      preferredNodeSelectors: nodeSelectorsSchema(
        'Nodes preferred as the owner of a local address of this group: when an address needs a new owner, a live candidate matching any selector wins over the others. The current owner keeps the address while it is alive and eligible, so an address never moves back to a preferred node that returns. No effect on virtual addresses. Unset: no preference.',
      ),
      netbox: {
        type: 'object',
        description: 'PureLB v1 Netbox IPAM: not supported; a group using it is reported invalid.',
        properties: {
          url: str(512, 'Netbox URL.'),
          tenant: str(253, 'Netbox tenant.'),
          aggregation: str(8, 'Aggregation.'),
        },
      },
      ...tenancyProperties(),
    },
  };
  const status: Schema = {
    type: 'object',
    description: 'Written by the allocator.',
    properties: {
      observedGeneration: int64('Generation of the spec this status describes.'),
      allocatedIPv4: int64('IPv4 addresses in use.'),
      allocatedIPv6: int64('IPv6 addresses in use.'),
      availableIPv4: int64('IPv4 addresses free (capped at 2^53-1).'),
      availableIPv6: int64('IPv6 addresses free (capped at 2^53-1).'),
      conditions,
    },
  };
  const out = crd('ServiceGroup', 'servicegroups', ['sg', 'sgs'], spec, {
    subresources: { status: {} },
    additionalPrinterColumns: [
      { name: 'Valid', type: 'string', jsonPath: '.status.conditions[?(@.type=="Valid")].status' },
      { name: 'Allocated-V4', type: 'integer', jsonPath: '.status.allocatedIPv4' },
      { name: 'Available-V4', type: 'integer', jsonPath: '.status.availableIPv4' },
      { name: 'Allocated-V6', type: 'integer', jsonPath: '.status.allocatedIPv6' },
      { name: 'Available-V6', type: 'integer', jsonPath: '.status.availableIPv6' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
  addStatus(out, status);
  rootSchema(out)['x-kubernetes-validations'] = [
    {
      rule: "!has(self.spec) || !has(self.spec.autoAssign) || self.spec.autoAssign || self.metadata.name != 'default'",
      message: 'the ServiceGroup named "default" serves Services that name no group, so it cannot set autoAssign false',
      fieldPath: '.spec.autoAssign',
    },
  ];
  return out;
}

const rootSchema = (out: Schema) =>
  (out.spec as { versions: Array<{ schema: { openAPIV3Schema: Schema } }> }).versions[0]!.schema.openAPIV3Schema;

export function addStatus(out: Schema, status: Schema): void {
  const versions = (out.spec as { versions: Array<{ schema: { openAPIV3Schema: { properties: Schema } } }> }).versions;
  for (const v of versions) v.schema.openAPIV3Schema.properties.status = status;
}

export function lbNodeAgentCRD(): Schema {
  const spec: Schema = {
    type: 'object',
    description: 'How the node agent places addresses on nodes.',
    properties: {
      local: {
        type: 'object',
        description: 'Interfaces and announcement settings (PureLB v1 field names).',
        properties: {
          localint: str(
            253,
            'LAN interface for local addresses: "default" (the interface of the lowest-metric default route, per family) or a regular expression matched against interface names.',
            { default: 'default' },
          ),
          extlbint: str(15, 'Interface that carries virtual addresses; created if missing and never deleted.', {
            default: 'kube-lb0',
            pattern: '^[A-Za-z0-9_.-]{1,15}$',
          }),
          sendgarp: {
            type: 'boolean',
            default: false,
            description:
              'Send gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6) when a node takes over a local address.',
          },
        },
      },
    },
  };
  return crd('LBNodeAgent', 'lbnodeagents', ['lbna', 'lbnas'], spec, {
    additionalPrinterColumns: [
      { name: 'Local-Interface', type: 'string', jsonPath: '.spec.local.localint' },
      { name: 'Virtual-Interface', type: 'string', jsonPath: '.spec.local.extlbint' },
      { name: 'GARP', type: 'boolean', jsonPath: '.spec.local.sendgarp' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

/** Every CRD of the project, keyed by the file name under crds/. */
export function allCRDs(): Record<string, Schema> {
  return {
    'servicegroup.yaml': serviceGroupCRD(),
    'lbnodeagent.yaml': lbNodeAgentCRD(),
    'routerconfig.yaml': routerConfigCRD(),
    'noderoutingstatus.yaml': nodeRoutingStatusCRD(),
  };
}
