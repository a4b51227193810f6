// The NodeRoutingStatus CRD (purelb.io/v1, namespaced): one object per node, named after the node, in the
// install namespace, written only by that node's agent (server-side apply) and owned by the Node, so it is
// garbage-collected with it. It has no spec and no status subresource: the whole object is an observation,
// and one apply request creates or updates it. Why one object per node: docs/routing.md.
import { NODE_ROUTING_STATUS_KIND, NODE_ROUTING_STATUS_PLURAL } from './names.ts';
import { addStatus, crd, int64, str, type Schema } from './crds.ts';
import { MAX_LISTED_PREFIXES, MAX_SESSIONS } from '../routing/status.ts';

export function nodeRoutingStatusCRD(): Schema {
  const status: Schema = {
    type: 'object',
    description: "Written by the node's agent whenever something other than updated changes.",
    properties: {
      routerConfig: str(253, 'The RouterConfig (in the same namespace) that selects this node.'),
      daemon: str(16, 'Daemon in use.'),
      protocol: str(16, 'Protocol in use.'),
      observedGeneration: int64('RouterConfig generation this status describes.'),
      configHash: str(80, 'sha256 of the daemon configuration that is running.'),
      lastReload: {
        type: 'object',
        description: 'Outcome of the last attempt to apply a configuration.',
        properties: {
          time: { type: 'string', format: 'date-time' },
          result: { type: 'string', enum: ['Applied', 'Unchanged', 'Rejected', 'Failed'] },
          error: str(4096, 'Why the last attempt was not applied; the previous configuration keeps running.'),
        },
      },
      sessions: {
        type: 'array',
        maxItems: MAX_SESSIONS,
        description: 'BGP sessions or OSPF neighbours as the daemon reports them.',
        items: {
          type: 'object',
          properties: {
            name: str(64, 'Session (peer address or protocol name).'),
            state: str(64, "Daemon's state name, e.g. Established or Full."),
            info: str(256, 'Extra detail from the daemon.'),
          },
        },
      },
      advertised: {
        type: 'array',
        maxItems: MAX_LISTED_PREFIXES,
        items: str(64, 'Prefix.'),
        description: `Advertised prefixes (first ${MAX_LISTED_PREFIXES}).`,
      },
      advertisedCount: int64('Number of advertised prefixes.'),
      daemonError: str(
        1024,
        'Set when the daemon did not answer the last status query (e.g. it is down); sessions and advertised are then empty, not stale.',
      ),
      updated: { type: 'string', format: 'date-time' },
    },
  };
  const out = crd(NODE_ROUTING_STATUS_KIND, NODE_ROUTING_STATUS_PLURAL, ['nrs'], undefined, {
    additionalPrinterColumns: [
      { name: 'RouterConfig', type: 'string', jsonPath: '.status.routerConfig' },
      { name: 'Daemon', type: 'string', jsonPath: '.status.daemon' },
      { name: 'Protocol', type: 'string', jsonPath: '.status.protocol' },
      { name: 'Reload', type: 'string', jsonPath: '.status.lastReload.result' },
      { name: 'Advertised', type: 'integer', jsonPath: '.status.advertisedCount' },
      { name: 'Daemon-Error', type: 'string', jsonPath: '.status.daemonError', priority: 1 },
      { name: 'Updated', type: 'date', jsonPath: '.status.updated' },
    ],
  });
  addStatus(out, status);
  return out;
}
