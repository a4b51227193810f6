// The RouterConfig CRD (purelb.io/v1, namespaced): OpenAPI bounds and CEL rules for what admission can
// check; src/api/validate-routerconfig.ts checks the same and more (IP literal strictness, duplicates).
import { crd, str, type Schema } from './crds.ts';
import { SELECTOR_OPERATORS } from '../model/label-selector.ts';
import {
  ADVERTISEMENT_COMMUNITY_PATTERN,
  ADVERTISEMENT_NAME_PATTERN,
  COMMUNITY_PATTERN,
  DAEMONS,
  DESCRIPTION_PATTERN,
  FAMILIES,
  INTERFACE_PATTERN,
  MAX_ADVERTISEMENTS,
  MAX_AS_PATH_PREPEND,
  MAX_ASN,
  MAX_COMMUNITIES,
  MAX_OSPF_INTERFACES,
  MAX_PEERS,
  OSPF_MODES,
  OSPF_NETWORK_TYPES,
  PROTOCOLS,
} from './validate-routerconfig.ts';

const int = (minimum: number, maximum: number, description: string): Schema => ({
  type: 'integer',
  minimum,
  maximum,
  description,
});

// Functions, not constants: crds.ts imports this module back (allCRDs), so nothing may run at load time.
const peer = (): Schema => ({
  type: 'object',
  required: ['address', 'asn'],
  'x-kubernetes-validations': [
    {
      rule: '!has(self.keepaliveTime) || !has(self.holdTime) || self.keepaliveTime < self.holdTime',
      message: 'keepaliveTime must be less than holdTime',
    },
    {
      rule: "!has(self.families) || self.families.all(f, f == (ip(self.address).family() == 4 ? 'ipv4' : 'ipv6'))",
      message: 'a peer carries the family of its address only; add a second peer for the other family',
    },
  ],
  properties: {
    address: str(45, 'Peer IP address (IPv4 or IPv6 literal).', {
      'x-kubernetes-validations': [{ rule: 'isIP(self)', message: 'address must be an IP literal' }],
    }),
    asn: int(1, MAX_ASN, 'Peer AS number.'),
    port: int(1, 65535, 'Peer TCP port (default 179).'),
    description: str(80, "Shown in the daemon's peer list.", { pattern: DESCRIPTION_PATTERN }),
    passwordSecretRef: {
      type: 'object',
      required: ['name'],
      description: 'TCP-MD5 password from a Secret in this namespace (the agent needs get on that Secret).',
      properties: { name: str(253, 'Secret name.'), key: str(253, 'Key in the Secret (default "password").') },
    },
    multihop: int(1, 255, 'eBGP multihop TTL; omit for a directly connected peer.'),
    holdTime: int(3, 65535, 'Hold time in seconds (default 90).'),
    keepaliveTime: int(1, 21845, 'Keepalive in seconds (default holdTime/3).'),
    bfd: { type: 'boolean', description: 'BFD for this session (bird, frr; not gobgp).' },
    gracefulRestart: { type: 'boolean', description: 'Graceful restart (RFC 4724).' },
    families: {
      type: 'array',
      maxItems: 2,
      items: { type: 'string', enum: [...FAMILIES] },
      description: 'Address families of the session; default: the family of address.',
    },
  },
});

const labelSelector = (): Schema => ({
  type: 'object',
  description: 'Services whose labels match (Kubernetes label selector).',
  properties: {
    matchLabels: {
      type: 'object',
      maxProperties: 32,
      additionalProperties: str(63, 'Label value.'),
      description: 'Labels that must all be present with these values.',
    },
    matchExpressions: {
      type: 'array',
      maxItems: 32,
      description: 'Requirements that must all hold (as in any Kubernetes label selector).',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: str(317, 'Label key.'),
          operator: { type: 'string', enum: [...SELECTOR_OPERATORS], description: 'How key relates to values.' },
          values: {
            type: 'array',
            maxItems: 64,
            items: str(63, 'Label value.'),
            description: 'Non-empty for In and NotIn, empty for Exists and DoesNotExist.',
          },
        },
      },
    },
  },
});

const advertisement = (): Schema => ({
  type: 'object',
  'x-kubernetes-validations': [
    {
      rule: 'has(self.serviceSelector) || has(self.serviceGroups)',
      message: 'an advertisement selects Services: set serviceSelector and/or serviceGroups',
    },
    {
      rule: 'has(self.communities) || has(self.localPref) || has(self.asPathPrepend)',
      message: 'an advertisement sets communities, localPref and/or asPathPrepend',
    },
  ],
  properties: {
    name: str(63, 'Name shown in the daemon configs (default adv-<position>).', {
      pattern: ADVERTISEMENT_NAME_PATTERN,
    }),
    serviceSelector: labelSelector(),
    serviceGroups: {
      type: 'array',
      maxItems: MAX_COMMUNITIES,
      items: str(253, 'ServiceGroup name.'),
      description: 'Services whose address was allocated from one of these ServiceGroups (ANDed with serviceSelector).',
    },
    communities: {
      type: 'array',
      maxItems: MAX_COMMUNITIES,
      description:
        'Communities of these Services, replacing spec.bgp.communities: standard "asn:value" or large "large:global:data1:data2" (as in MetalLB).',
      items: str(38, 'Community.', { pattern: ADVERTISEMENT_COMMUNITY_PATTERN }),
    },
    localPref: int(0, 4294967295, 'LOCAL_PREF of these Services (sent to iBGP peers only; needs one).'),
    asPathPrepend: int(
      1,
      MAX_AS_PATH_PREPEND,
      'Extra copies of localASN in front of the AS path (eBGP peers only: refused with an iBGP peer).',
    ),
  },
});

// eslint-disable-next-line max-lines-per-function -- the CRD schema as one data literal, no logic
export function routerConfigCRD(): Schema {
  const spec: Schema = {
    type: 'object',
    required: ['daemon', 'protocol'],
    description: 'Routing for the nodes selected by nodeSelector (the most specific selector wins; ties by name).',
    'x-kubernetes-validations': [
      {
        rule: "!(self.daemon == 'gobgp' && self.protocol == 'ospf')",
        message: 'GoBGP has no OSPF; use protocol bgp, or daemon bird or frr',
      },
      { rule: "self.protocol != 'bgp' || has(self.bgp)", message: 'protocol bgp needs spec.bgp' },
      { rule: "self.protocol != 'ospf' || has(self.ospf)", message: 'protocol ospf needs spec.ospf' },
    ],
    properties: {
      nodeSelector: {
        type: 'object',
        maxProperties: 32,
        additionalProperties: str(63, 'Label value.'),
        description: 'Node labels that must all match; empty selects every node.',
      },
      daemon: { type: 'string', enum: [...DAEMONS], description: 'Routing daemon on the node.' },
      protocol: { type: 'string', enum: [...PROTOCOLS], description: 'Protocol towards the routers.' },
      bgp: {
        type: 'object',
        description: 'BGP settings; required when protocol is bgp.',
        required: ['localASN', 'peers'],
        properties: {
          localASN: int(1, MAX_ASN, 'AS number of the node.'),
          routerID: str(15, 'BGP router id (IPv4); default: the node IP.', {
            'x-kubernetes-validations': [
              { rule: 'isIP(self) && ip(self).family() == 4', message: 'routerID must be an IPv4 address' },
            ],
          }),
          peers: {
            type: 'array',
            minItems: 1,
            maxItems: MAX_PEERS,
            items: peer(),
            description:
              "BGP neighbours of the node (one address family per peer: use the router's IPv6 address for IPv6 routes).",
          },
          communities: {
            type: 'array',
            maxItems: MAX_COMMUNITIES,
            description: 'Standard communities added to every advertised route.',
            items: str(11, 'Standard community asn:value.', { pattern: COMMUNITY_PATTERN }),
          },
          localPref: int(0, 4294967295, 'LOCAL_PREF on advertised routes (iBGP).'),
          advertisements: {
            type: 'array',
            maxItems: MAX_ADVERTISEMENTS,
            items: advertisement(),
            description:
              "Routing attributes per Service: the first entry that selects one of the Services behind a prefix gives it its communities, localPref and asPathPrepend (each unset field keeps spec.bgp's value); other prefixes keep spec.bgp's values.",
          },
        },
      },
      ospf: {
        type: 'object',
        description: 'OSPF settings (OSPFv2 for IPv4, OSPFv3 for IPv6); required when protocol is ospf.',
        required: ['interfaces'],
        properties: {
          area: { 'x-kubernetes-int-or-string': true, description: 'Area id, a number or dotted (default 0.0.0.0).' },
          mode: {
            type: 'string',
            enum: [...OSPF_MODES],
            description:
              'stub: kube-lb0 as a passive stub interface; external: type-2 externals with metric (default).',
          },
          metric: int(1, 16777214, 'Type-2 external metric (mode external, default 20).'),
          cost: int(1, 65535, 'Cost of the uplink interfaces (default 10).'),
          helloInterval: int(1, 65535, 'Seconds (default 10).'),
          deadInterval: int(2, 65535, 'Seconds (default 4 x helloInterval).'),
          networkType: {
            type: 'string',
            enum: [...OSPF_NETWORK_TYPES],
            description: 'Uplink network type (default broadcast).',
          },
          interfaces: {
            type: 'array',
            minItems: 1,
            maxItems: MAX_OSPF_INTERFACES,
            description: 'Uplink interfaces that form adjacencies with the routers.',
            items: str(15, 'Uplink interface.', { pattern: INTERFACE_PATTERN }),
          },
        },
      },
    },
  };
  // no status: each node's routing status is its own NodeRoutingStatus object (crd-noderoutingstatus.ts)
  return crd('RouterConfig', 'routerconfigs', ['rtc'], spec, {
    additionalPrinterColumns: [
      { name: 'Daemon', type: 'string', jsonPath: '.spec.daemon' },
      { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}
