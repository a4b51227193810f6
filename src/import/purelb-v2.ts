// `purelb import --from purelb-v2`: newest PureLB's purelb.io/v2 ServiceGroups and LBNodeAgents to
// purelb.io/v1 (pure). v2 splits pools into local and remote; v1 has one pool list and tells local
// from virtual by the node subnets, so both become spec.local. Service annotations are the same in
// both APIs; only the class and v2-only annotations are reported.
import { API_VERSION } from '../api/names.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import { DEFAULT_LB_CLASS } from '../api/annotations.ts';
import { describeSource, finishImport, isRecord, Report, type ImportResult, type SourceObject } from './report.ts';

export interface PureLBv2Options {
  namespace: string;
}

const V2 = 'purelb.io/v2';
const V2_CLASS = 'purelb.io/purelbv2';
const POOL_KEYS = ['v4pool', 'v6pool', 'v4pools', 'v6pools'];
const TENANCY = ['namespaces', 'enforceNamespaces', 'namespaceDefault'];
const OPTIONS: Record<string, string> = {
  skipIPv6DAD: 'the agent always runs IPv6 duplicate address detection',
  multiPool: 'a Service gets one address per family',
  balancePools: 'pools are used in declaration order',
};

function mapServiceGroup(sg: SourceObject, opts: PureLBv2Options, report: Report): KubernetesObject | undefined {
  const object = describeSource(sg);
  const spec = isRecord(sg.spec) ? sg.spec : {};
  report.unknownFields(object, spec, ['local', 'remote', 'external', ...TENANCY], 'spec');
  for (const key of TENANCY)
    if (spec[key] !== undefined && spec[key] !== false && !(Array.isArray(spec[key]) && spec[key].length === 0))
      report.note(
        object,
        `spec.${key}`,
        'not mapped automatically: scope the group with spec.serviceAllocation by hand (docs/tenancy.md)',
      );
  if (spec.external !== undefined) {
    report.note(object, 'spec.external', 'external IPAM is not supported; not mapped (no ServiceGroup)');
    return undefined;
  }
  const kind = isRecord(spec.local) ? 'local' : isRecord(spec.remote) ? 'remote' : undefined;
  if (!kind) {
    report.note(object, 'spec', 'has neither local nor remote pools; not mapped');
    return undefined;
  }
  const src = spec[kind] as Record<string, unknown>;
  report.unknownFields(object, src, [...POOL_KEYS, ...Object.keys(OPTIONS)], `spec.${kind}`);
  for (const [key, reason] of Object.entries(OPTIONS))
    if (src[key] === true) report.note(object, `spec.${kind}.${key}`, `not mapped: ${reason}`);
  const local: Record<string, unknown> = {};
  for (const key of POOL_KEYS) if (src[key] !== undefined) local[key] = src[key];
  if (kind === 'remote') {
    const entries = POOL_KEYS.flatMap((k) => (Array.isArray(src[k]) ? (src[k] as unknown[]) : src[k] ? [src[k]] : []));
    if (
      entries.some(
        (e) => !isRecord(e) || e.aggregation === undefined || e.aggregation === 'default' || e.aggregation === '',
      )
    )
      report.note(
        object,
        'spec.remote',
        'a remote pool with aggregation "default" puts the subnet prefix on kube-lb0, and the managed routing daemons advertise only /32 and /128 routes: set aggregation /32 (IPv4) and /128 (IPv6)',
      );
  }
  return {
    apiVersion: API_VERSION,
    kind: 'ServiceGroup',
    metadata: { name: sg.metadata?.name, namespace: opts.namespace },
    spec: { local },
  } as KubernetesObject;
}

const AGENT_LOCAL_KEYS = [
  'localInterface',
  'dummyInterface',
  'garpConfig',
  'addressConfig',
  'interfaces',
  'addressGuard',
];
const AGENT_UNSUPPORTED: Record<string, string> = {
  addressConfig: 'the agent sets address lifetimes and flags itself',
  interfaces: 'each agent learns the subnets of its node and publishes them in its heartbeat Lease',
  addressGuard: 'there is no address guard',
};
const GARP_KEYS = ['enabled', 'initialDelay', 'count', 'interval', 'verifyBeforeSend'];

function mapAgent(a: SourceObject, opts: PureLBv2Options, report: Report): KubernetesObject {
  const object = describeSource(a);
  const spec = isRecord(a.spec) ? a.spec : {};
  report.unknownFields(object, spec, ['nodeSelector', 'local'], 'spec');
  if (spec.nodeSelector !== undefined)
    report.note(
      object,
      'spec.nodeSelector',
      'not mapped: one LBNodeAgent configures every node; limit nodes with the DaemonSet nodeSelector',
    );
  const src = isRecord(spec.local) ? spec.local : {};
  report.unknownFields(object, src, AGENT_LOCAL_KEYS, 'spec.local');
  for (const [key, reason] of Object.entries(AGENT_UNSUPPORTED))
    if (src[key] !== undefined) report.note(object, `spec.local.${key}`, `not mapped: ${reason}`);
  const garp = isRecord(src.garpConfig) ? src.garpConfig : {};
  report.unknownFields(object, garp, GARP_KEYS, 'spec.local.garpConfig');
  for (const key of GARP_KEYS.filter((k) => k !== 'enabled' && garp[k] !== undefined))
    report.note(
      object,
      `spec.local.garpConfig.${key}`,
      'not mapped: gratuitous ARP / unsolicited NA is on or off only (sendgarp)',
    );
  return {
    apiVersion: API_VERSION,
    kind: 'LBNodeAgent',
    metadata: { name: a.metadata?.name, namespace: opts.namespace },
    spec: {
      local: {
        ...(src.localInterface !== undefined ? { localint: src.localInterface } : {}),
        ...(src.dummyInterface !== undefined ? { extlbint: src.dummyInterface } : {}),
        // v2's garpConfig.enabled defaults to true
        sendgarp: garp.enabled !== false,
      },
    },
  } as KubernetesObject;
}

const V2_ONLY_ANNOTATIONS: Record<string, string> = {
  'purelb.io/multi-pool': 'a Service gets one address per family',
  'purelb.io/re-evaluate': 'the allocator re-evaluates on every change',
};

function checkService(svc: SourceObject, report: Report): void {
  const object = describeSource(svc);
  const spec = isRecord(svc.spec) ? svc.spec : {};
  if (spec.type !== 'LoadBalancer') return;
  if (spec.loadBalancerClass === V2_CLASS)
    report.note(
      object,
      'spec.loadBalancerClass',
      `"${V2_CLASS}" is immutable and the allocator handles no class or ${DEFAULT_LB_CLASS}: run the allocator with --lb-class ${V2_CLASS}, or recreate the Service without a class`,
    );
  for (const [key, reason] of Object.entries(V2_ONLY_ANNOTATIONS))
    if (svc.metadata?.annotations?.[key] !== undefined)
      report.note(object, `metadata.annotations[${key}]`, `not mapped: ${reason}`);
}

export function importPureLBv2(docs: readonly SourceObject[], opts: PureLBv2Options): ImportResult {
  const report = new Report();
  const objects: KubernetesObject[] = [];
  for (const d of docs) {
    if (d.apiVersion === V2 && d.kind === 'ServiceGroup') {
      const sg = mapServiceGroup(d, opts, report);
      if (sg) objects.push(sg);
    } else if (d.apiVersion === V2 && d.kind === 'LBNodeAgent') objects.push(mapAgent(d, opts, report));
    else if (d.apiVersion === 'v1' && d.kind === 'Service') checkService(d, report);
    else if ((d.apiVersion ?? '').startsWith('purelb.io/'))
      report.note(
        describeSource(d),
        'apiVersion',
        `${d.apiVersion} ${d.kind} is not imported (purelb.io/v2 ServiceGroup and LBNodeAgent only)`,
      );
    else
      report.notes.push(
        `skipped ${d.apiVersion ?? '<no apiVersion>'} ${describeSource(d)} (not a purelb.io/v2 object or Service)`,
      );
  }
  return finishImport(objects, [], report);
}
