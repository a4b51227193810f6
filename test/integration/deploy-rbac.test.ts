// deploy/ RBAC on the real apiserver: the base is rendered into a fresh namespace (with a name suffix for
// its cluster-scoped roles) and its RBAC objects are created. Then, for the allocator and agent accounts:
// every granted rule is effective through its binding (SubjectAccessReview), namespaced rules do not leak
// into other namespaces, and the dangerous extras are refused, also on real calls with minted tokens.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AuthorizationV1Api, CoreV1Api, type KubeConfig, type V1PolicyRule } from '@kubernetes/client-node';
import { kubeAllocatorCluster } from '../../src/allocator/cluster.ts';
import { createLogger } from '../../src/log.ts';
import { installBaseRbac, type InstalledRbac } from '../harness/deploy.ts';
import {
  adminKubeConfig,
  cleanUpNamespaces,
  freshNamespace,
  kubeClient,
  serviceAccountKubeConfig,
} from '../harness/kube.ts';

let kc: KubeConfig;
let ns: string;
let other: string;
let rbac: InstalledRbac | undefined;
const suffix = `-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  kc = adminKubeConfig();
  ns = await freshNamespace(kc, 'deploy-rbac');
  other = await freshNamespace(kc, 'deploy-rbac-other');
  rbac = await installBaseRbac(kc, ns, suffix);
});

afterAll(async () => {
  await rbac?.remove();
  await cleanUpNamespaces();
});

interface Check {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
}

/** Every (verb, group, resource) a rule list grants, in the given namespace ('' = cluster-wide). */
function expand(rules: V1PolicyRule[], namespace: string): Check[] {
  return rules.flatMap((r) =>
    r.apiGroups!.flatMap((group) =>
      r.resources!.flatMap((resource) => r.verbs.map((verb) => ({ verb, group, resource, namespace }))),
    ),
  );
}

async function allowed(sa: string, c: Check): Promise<boolean> {
  const [resource, subresource] = c.resource.split('/');
  const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user: `system:serviceaccount:${ns}:${sa}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
        resourceAttributes: {
          verb: c.verb,
          group: c.group,
          resource,
          subresource,
          namespace: c.namespace || undefined,
        },
      },
    },
  });
  return review.status?.allowed === true;
}

const fmt = (c: Check) =>
  `${c.verb} ${c.group ? `${c.group}/` : ''}${c.resource}${c.namespace ? ` in ${c.namespace}` : ''}`;

// Dangerous or unneeded permissions that must stay refused (the issue names secrets list and services delete).
const forbidden: Record<string, Array<Omit<Check, 'namespace'> & { scope: 'cluster' | 'install' }>> = {
  allocator: [
    { verb: 'list', group: '', resource: 'secrets', scope: 'cluster' },
    { verb: 'get', group: '', resource: 'secrets', scope: 'install' },
    { verb: 'delete', group: '', resource: 'services', scope: 'cluster' },
    { verb: 'update', group: '', resource: 'services', scope: 'cluster' },
    { verb: 'create', group: '', resource: 'services', scope: 'cluster' },
    { verb: 'patch', group: '', resource: 'nodes', scope: 'cluster' },
    { verb: 'list', group: '', resource: 'pods', scope: 'cluster' },
    { verb: 'create', group: 'purelb.io', resource: 'servicegroups', scope: 'install' },
    { verb: 'delete', group: 'purelb.io', resource: 'servicegroups', scope: 'install' },
    { verb: 'patch', group: 'purelb.io', resource: 'servicegroups', scope: 'install' },
    { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', scope: 'install' },
    // EndpointSlices and heartbeat Leases are only read (the NoEligibleNode report)
    { verb: 'create', group: 'discovery.k8s.io', resource: 'endpointslices', scope: 'cluster' },
    { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', scope: 'install' },
    { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', scope: 'cluster' },
    { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', scope: 'install' },
    // Namespace labels are only listed and watched (ServiceGroup namespaceSelectors)
    { verb: 'get', group: '', resource: 'namespaces', scope: 'cluster' },
    { verb: 'patch', group: '', resource: 'namespaces', scope: 'cluster' },
  ],
  lbnodeagent: [
    { verb: 'list', group: '', resource: 'secrets', scope: 'cluster' },
    { verb: 'list', group: '', resource: 'secrets', scope: 'install' },
    { verb: 'watch', group: '', resource: 'secrets', scope: 'install' },
    { verb: 'get', group: '', resource: 'secrets', scope: 'cluster' },
    { verb: 'delete', group: '', resource: 'services', scope: 'cluster' },
    { verb: 'update', group: '', resource: 'services', scope: 'cluster' },
    { verb: 'patch', group: '', resource: 'services/status', scope: 'cluster' },
    { verb: 'patch', group: '', resource: 'nodes', scope: 'cluster' },
    { verb: 'list', group: '', resource: 'pods', scope: 'cluster' },
    { verb: 'create', group: '', resource: 'pods/exec', scope: 'install' },
    { verb: 'patch', group: 'purelb.io', resource: 'servicegroups/status', scope: 'install' },
    { verb: 'patch', group: 'purelb.io', resource: 'lbnodeagents', scope: 'install' },
    { verb: 'update', group: 'purelb.io', resource: 'routerconfigs', scope: 'install' },
    // an agent writes its own node's routing status and never reads another's
    { verb: 'list', group: 'purelb.io', resource: 'noderoutingstatuses', scope: 'install' },
    { verb: 'watch', group: 'purelb.io', resource: 'noderoutingstatuses', scope: 'install' },
    { verb: 'create', group: 'discovery.k8s.io', resource: 'endpointslices', scope: 'cluster' },
  ],
};

describe.each(['allocator', 'lbnodeagent'])('%s service account', (component) => {
  const sa = () => `${component}${suffix}`;

  /** The checks whose SubjectAccessReview answer is `answer`, formatted. */
  async function answering(answer: boolean, checks: Check[]): Promise<string[]> {
    const out: string[] = [];
    for (const c of checks) if ((await allowed(sa(), c)) === answer) out.push(fmt(c));
    return out;
  }

  test('every ClusterRole rule is effective cluster-wide and every Role rule in the install namespace', async () => {
    const { cluster, namespaced } = rbac!.rules(component);
    const checks = [...expand(cluster, ''), ...expand(namespaced, ns)];
    expect(checks.length).toBeGreaterThan(3);
    expect(await answering(false, checks)).toEqual([]);
  });

  test('Role rules do not reach into any other namespace', async () => {
    const checks = expand(rbac!.rules(component).namespaced, other);
    expect(checks.length).toBeGreaterThan(0);
    expect(await answering(true, checks)).toEqual([]);
  });

  test('the forbidden extras are refused', async () => {
    const checks = forbidden[component]!.map((f) => ({ ...f, namespace: f.scope === 'install' ? ns : '' }));
    expect(await answering(true, checks)).toEqual([]);
  });

  test('real calls with its own token: secrets list and services delete get 403, its own reads work', async () => {
    const core = (await serviceAccountKubeConfig(kc, ns, sa())).makeApiClient(CoreV1Api);
    await expect(core.listSecretForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await expect(core.listNamespacedSecret({ namespace: ns })).rejects.toMatchObject({ code: 403 });
    await expect(core.deleteNamespacedService({ name: 'kubernetes', namespace: 'default' })).rejects.toMatchObject({
      code: 403,
    });
    // the same token is accepted for what the component needs, so the 403s above are RBAC, not a bad token
    await expect(core.listServiceForAllNamespaces()).resolves.toBeDefined();
  });
});

test('the allocator token runs its metadata-only Namespace watch (ServiceGroup namespaceSelectors) and its heartbeat Lease and EndpointSlice watches', async () => {
  const saKc = await serviceAccountKubeConfig(kc, ns, `allocator${suffix}`);
  const cluster = kubeAllocatorCluster(kubeClient(saKc), ns, createLogger('rbac-test', { namespace: ns }), ns);
  const namespaces = cluster.namespaces();
  try {
    await namespaces.synced;
    expect(namespaces.get(ns)?.metadata?.name).toBe(ns);
    // a 403 would keep them retrying, never synced
    await Promise.all([cluster.leases.synced, cluster.endpointSlices.synced]);
    expect([cluster.leases.list(), cluster.endpointSlices.list()]).toEqual([[], []]);
  } finally {
    await cluster.stop();
  }
});
