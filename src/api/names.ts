// Names every component, the CLI and the tests share; each exists only here.

/** The API group and version of ServiceGroup, LBNodeAgent and RouterConfig (PureLB's v1 contract). */
export const GROUP = 'purelb.io';
export const VERSION = 'v1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Event sources (`kubectl describe` shows them as "From"). */
export const ALLOCATOR_COMPONENT = 'purelb-allocator';
export const AGENT_COMPONENT = 'purelb-lbnodeagent';

/** A Linux interface name: at most 15 characters (IFNAMSIZ - 1) of a safe set; also a CRD schema pattern. */
export const INTERFACE_PATTERN = '^[A-Za-z0-9_.-]{1,15}$';

/** The per-node routing status objects (one per node, named after it, in the install namespace). */
export const NODE_ROUTING_STATUS_KIND = 'NodeRoutingStatus';
export const NODE_ROUTING_STATUS_PLURAL = 'noderoutingstatuses';
