// `purelb import --from metallb`: MetalLB v0.13+ objects (metallb.io/v1beta1, BGPPeer also v1beta2),
// Nodes and Services to purelb.io/v1 objects, Service patches and a report (pure).
import type { CIDR } from '../api/ip.ts';
import type { Daemon } from '../api/validate-routerconfig.ts';
import { parseServiceGroup, type ServiceGroupConfig } from '../api/validate-servicegroup.ts';
import { mapBgp } from './metallb-bgp.ts';
import { mapNodeSelectors } from './metallb-node-selectors.ts';
import { checkL2, mapPools, nodeSubnets, poolSelections } from './metallb-pools.ts';
import { mapServices } from './metallb-services.ts';
import { describeSource, finishImport, Report, type ImportResult, type SourceObject } from './report.ts';

export interface MetalLBOptions {
  /** Namespace of the emitted objects (the purelb install namespace). */
  namespace: string;
  daemon?: Daemon;
  nodeSubnets: readonly CIDR[];
  defaultPool?: string;
}

const KINDS = ['IPAddressPool', 'L2Advertisement', 'BGPAdvertisement', 'BGPPeer', 'BFDProfile', 'Community'] as const;
const VERSIONS = ['metallb.io/v1beta1', 'metallb.io/v1beta2'];

export function importMetalLB(docs: readonly SourceObject[], opts: MetalLBOptions): ImportResult {
  const report = new Report();
  const of = (kind: string) => docs.filter((d) => d.kind === kind && VERSIONS.includes(d.apiVersion ?? ''));
  for (const d of docs) {
    const group = (d.apiVersion ?? '').split('/')[0];
    if (group === 'metallb.io' && !(KINDS as readonly string[]).includes(d.kind ?? ''))
      report.note(describeSource(d), 'kind', `${d.apiVersion} ${d.kind} is not imported (only ${KINDS.join(', ')})`);
    else if (group === 'metallb.io' && !VERSIONS.includes(d.apiVersion ?? ''))
      report.note(
        describeSource(d),
        'apiVersion',
        `${d.apiVersion} is not imported (MetalLB v0.13+: ${VERSIONS.join(', ')})`,
      );
    else if (group !== 'metallb.io' && !(d.apiVersion === 'v1' && (d.kind === 'Node' || d.kind === 'Service')))
      report.notes.push(
        `skipped ${d.apiVersion ?? '<no apiVersion>'} ${describeSource(d)} (not a MetalLB object, Node or Service)`,
      );
  }
  const core = (kind: string) => docs.filter((d) => d.apiVersion === 'v1' && d.kind === kind);
  const subnets = nodeSubnets(opts.nodeSubnets, core('Node'), report);
  const { groups: pooled, mapped } = mapPools(of('IPAddressPool'), subnets, opts, report);
  const l2 = poolSelections(of('L2Advertisement'), mapped, report);
  const bgp = poolSelections(of('BGPAdvertisement'), mapped, report);
  checkL2(l2, report);
  const routers = mapBgp(
    {
      peers: of('BGPPeer'),
      advertisements: bgp,
      bfdProfiles: of('BFDProfile'),
      communities: of('Community'),
    },
    mapped,
    opts,
    report,
  );
  const groups = mapNodeSelectors(pooled, mapped, { l2, bgp }, report);
  const configs = groups.map((g) => parseServiceGroup(g).config).filter((c): c is ServiceGroupConfig => !!c);
  const patches = mapServices(
    core('Service'),
    { groupOf: (pool) => mapped.find((p) => p.name === pool)?.group, groups: configs },
    report,
  );
  return finishImport([...groups, ...routers], patches, report);
}
