// Whether this node is out of service for load balancing (pure). `kubectl drain` cordons the node
// (spec.unschedulable) before it evicts pods, and operators mark nodes that must never carry load
// balancer traffic with the Kubernetes label node.kubernetes.io/exclude-from-external-load-balancers.
// An out-of-service node withdraws every virtual address (the routing daemon withdraws its routes) and
// hands its local addresses over like a graceful shutdown, while kube-proxy still forwards.
import type { V1Node } from '@kubernetes/client-node';

export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

/** What takes a node out of service (`--out-of-service`). */
export const OUT_OF_SERVICE_CAUSES = ['cordoned', 'exclude-label'] as const;
export type OutOfServiceCause = (typeof OUT_OF_SERVICE_CAUSES)[number];

/** Values Go's strconv.ParseBool reads as false: like Kubernetes, the label excludes with any other value. */
const FALSE_VALUES = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/**
 * Parses `--out-of-service`: a comma-separated subset of OUT_OF_SERVICE_CAUSES, or `none`.
 * Returns an error message for anything else.
 */
export function parseOutOfServiceCauses(text: string): Set<OutOfServiceCause> | string {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 1 && items[0] === 'none') return new Set();
  const bad = items.filter((i) => !(OUT_OF_SERVICE_CAUSES as readonly string[]).includes(i));
  if (items.length === 0 || bad.length) {
    return `--out-of-service must be "none" or a comma-separated list of ${OUT_OF_SERVICE_CAUSES.join(', ')}, got "${text}"`;
  }
  return new Set(items as OutOfServiceCause[]);
}

/**
 * Why the node is out of service (a sentence for logs and events), or undefined when it is in service.
 * A Node that does not exist (yet) is in service: the agent then behaves as it always did.
 */
export function outOfServiceReason(
  node: V1Node | undefined,
  causes: ReadonlySet<OutOfServiceCause>,
): string | undefined {
  if (!node) return undefined;
  const reasons: string[] = [];
  if (causes.has('cordoned') && node.spec?.unschedulable === true) reasons.push('it is cordoned (spec.unschedulable)');
  const label = node.metadata?.labels?.[EXCLUDE_LB_LABEL];
  if (causes.has('exclude-label') && label !== undefined && !FALSE_VALUES.has(label)) {
    reasons.push(`it has the label ${EXCLUDE_LB_LABEL}${label ? `=${label}` : ''}`);
  }
  return reasons.length ? reasons.join(' and ') : undefined;
}

/**
 * Reduces a watched Node to what the agent reads, in place: a Node's status (images, conditions,
 * addresses) is most of it and changes all the time; the agent keeps name, uid, resourceVersion (the
 * watch resumes from it), the labels (the exclude label, and those ServiceGroup node selectors read)
 * and spec.unschedulable.
 */
export function slimNode(node: V1Node): void {
  const meta = node.metadata ?? {};
  node.metadata = {
    name: meta.name,
    uid: meta.uid,
    resourceVersion: meta.resourceVersion,
    ...(meta.labels ? { labels: meta.labels } : {}),
  };
  node.spec = node.spec?.unschedulable !== undefined ? { unschedulable: node.spec.unschedulable } : {};
  delete node.status;
}
