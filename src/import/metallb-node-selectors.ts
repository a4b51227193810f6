// L2Advertisement and BGPAdvertisement nodeSelectors to ServiceGroup spec.nodeSelectors (pure). MetalLB
// announces a pool's address from every node that some advertisement selecting the pool selects, so a
// group's nodeSelectors are the union of those advertisements' selectors (a list matches when any one
// does); an advertisement without selectors means every node, and the group stays unrestricted. L2
// advertisements count for the pool's local ranges, BGP ones for its virtual ranges.
import type { LabelSelectorSpec, ServiceGroup } from '../api/types.ts';
import { MAX_SELECTORS } from '../api/validate-node-selectors.ts';
import { parseLabelSelectors, selectorEmpty, type LabelSelector } from '../model/label-selector.ts';
import { selectorText } from '../model/node-selector.ts';
import type { MappedPool, Selections } from './metallb-pools.ts';
import { describeSource, isRecord, type Report, type SourceObject } from './report.ts';

/** Nodes an advertisement announces from: every node, some selectors, or unreadable (already reported). */
type Nodes = 'every' | LabelSelector[] | undefined;

function nodesOf(ad: SourceObject, report: Report): Nodes {
  const spec = isRecord(ad.spec) ? ad.spec : {};
  const list = parseLabelSelectors(spec.nodeSelectors ?? undefined, 'spec.nodeSelectors', (f, m) =>
    report.note(describeSource(ad), f, `${m}; not mapped (the pools it selects are announced from every node)`),
  );
  if (!list) return undefined;
  // an empty LabelSelector matches every node
  return list.length === 0 || list.some(selectorEmpty) ? 'every' : list;
}

const selectorKey = (s: LabelSelector) => JSON.stringify([Object.entries(s.matchLabels).sort(), s.matchExpressions]);

/** The union of the advertisements' nodes; undefined when one of them is unreadable. */
function union(list: readonly Nodes[]): Nodes {
  if (list.some((n) => n === undefined)) return undefined;
  if (list.some((n) => n === 'every')) return 'every';
  const out = new Map<string, LabelSelector>();
  for (const n of list as LabelSelector[][]) for (const s of n) out.set(selectorKey(s), s);
  return [...out.values()];
}

const nodesKey = (n: Nodes) => (Array.isArray(n) ? JSON.stringify(n.map(selectorKey).sort()) : String(n));
const nodesText = (n: Nodes) => (Array.isArray(n) ? `nodes matching ${selectorText(n)}` : 'every node');

/** What the advertisement sends with the routes; BGP advertisements that differ here are told apart per node. */
const bgpAttributesKey = (ad: SourceObject) => {
  const spec = isRecord(ad.spec) ? ad.spec : {};
  return JSON.stringify([spec.communities ?? [], spec.localPref ?? null, spec.peers ?? []]);
};

const toSpec = (s: LabelSelector): LabelSelectorSpec => ({
  ...(Object.keys(s.matchLabels).length ? { matchLabels: s.matchLabels } : {}),
  ...(s.matchExpressions.length
    ? {
        matchExpressions: s.matchExpressions.map((r) => ({
          key: r.key,
          operator: r.operator,
          ...(r.values.length ? { values: r.values } : {}),
        })),
      }
    : {}),
});

interface Advertised {
  ad: SourceObject;
  nodes: Nodes;
}

/** The nodeSelectors of one pool's group, or undefined (every node) after reporting why when not exact. */
function poolSelectors(pool: MappedPool, l2: Advertised[], bgp: Advertised[], report: Report) {
  // no advertisement: MetalLB did not announce the pool at all (reported elsewhere), nothing to restrict
  if (l2.length + bgp.length === 0) return undefined;
  const object = describeSource(pool.source);
  const l2Nodes = union(l2.map((a) => a.nodes));
  const bgpNodes = union(bgp.map((a) => a.nodes));
  if (l2.length && bgp.length && nodesKey(l2Nodes) !== nodesKey(bgpNodes)) {
    report.note(
      object,
      'spec',
      `its L2Advertisements announce the local ranges from ${nodesText(l2Nodes)} and its BGPAdvertisements the virtual ranges from ${nodesText(bgpNodes)}; one ServiceGroup has one nodeSelectors: not mapped (every node announces); split the pool by kind of range to keep them`,
    );
    return undefined;
  }
  const nodes = l2.length ? l2Nodes : bgpNodes;
  if (
    nodes !== undefined &&
    new Set(bgp.map((a) => nodesKey(a.nodes))).size > 1 &&
    new Set(bgp.map((a) => bgpAttributesKey(a.ad))).size > 1
  )
    report.note(
      object,
      'spec',
      `its BGPAdvertisements select different nodes and send different communities/localPref/peers: MetalLB sent a node's routes with the attributes of the advertisements that select that node; here the same attributes go with the pool's routes from ${nodesText(nodes)}`,
    );
  if (!Array.isArray(nodes)) return undefined;
  if (nodes.length > MAX_SELECTORS) {
    report.note(
      object,
      'spec',
      `its advertisements select nodes with ${nodes.length} different selectors, and a ServiceGroup takes at most ${MAX_SELECTORS}: nodeSelectors not mapped (every node announces)`,
    );
    return undefined;
  }
  return nodes.map(toSpec);
}

/** The groups with the nodeSelectors of the advertisements that select their pools. */
export function mapNodeSelectors(
  groups: readonly ServiceGroup[],
  pools: readonly MappedPool[],
  ads: { l2: Selections; bgp: Selections },
  report: Report,
): ServiceGroup[] {
  const read = (selections: Selections) =>
    [...selections].map(([ad, selected]) => ({ ad, selected, nodes: nodesOf(ad, report) }));
  const l2 = read(ads.l2);
  const bgp = read(ads.bgp);
  return groups.map((group) => {
    const pool = pools.find((p) => p.group === group.metadata?.name);
    if (!pool) return group;
    const selecting = (list: typeof l2, local: boolean) =>
      pool.ranges.some((r) => r.local === local) ? list.filter((a) => a.selected.includes(pool)) : [];
    const nodeSelectors = poolSelectors(pool, selecting(l2, true), selecting(bgp, false), report);
    return nodeSelectors ? { ...group, spec: { ...group.spec, nodeSelectors } } : group;
  });
}
