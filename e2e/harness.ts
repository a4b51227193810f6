// Helpers for the e2e suite: a lab per backend on the run's shared apiserver, and the observations the
// tests make from outside the nodes (the ToR's FIB, ARP answers, requests from the client namespace).
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubernetesObjectApi, type KubernetesObject, type V1Service } from '@kubernetes/client-node';
import { ANN } from '../src/api/annotations.ts';
import { canonicalIP } from '../src/api/ip.ts';
import { applyObjects } from '../src/lab/apply.ts';
import { pidOf } from '../src/lab/components.ts';
import { inNetns, run } from '../src/exec.ts';
import { downLab, nodeByIP, upLab, type Lab, type SharedCluster } from '../src/lab/lab.ts';
import { DEFAULT_OPTIONS, type Daemon, type LabOptions, type Protocol } from '../src/lab/plan.ts';
import { endpointSlices, sampleServiceGroups, serviceObject, type SampleService } from '../src/lab/samples.ts';
import { requestSpread } from '../src/lab/spread.ts';
import { readVtyshRoutes } from '../src/status/upstream.ts';
import { procDir } from '../src/lab/ledger.ts';
import { reportFailedLab, testsFailed } from '../test/harness/failures.ts';
import { waitFor } from '../test/harness/kube.ts';

export function sharedCluster(): SharedCluster {
  const text = process.env.PURELB_E2E_SHARED;
  if (!text)
    throw new Error(
      'PURELB_E2E_SHARED is not set: run the e2e suite through `npm run test:e2e` (its globalSetup starts the apiserver)',
    );
  return JSON.parse(text) as SharedCluster;
}

// waitFor: a probe that throws says what it saw, and the timeout message repeats it
export { waitFor };

/** A lab for one backend on the shared apiserver: 3 nodes, agents live, the sample ServiceGroups applied. */
export async function startBackendLab(
  daemon: Daemon,
  protocol: Protocol,
  tag: string,
  extra: Partial<LabOptions> = {},
): Promise<Lab> {
  const name = `${process.env.PURELB_E2E_SHARED_NAME}${tag}`;
  const log = (m: string) => process.stderr.write(`[${name}] ${m}\n`);
  const lab = await upLab(
    { ...DEFAULT_OPTIONS, ...extra, name, daemon, protocol, samples: false },
    log,
    sharedCluster(),
  );
  // upLab returns once every agent holds its heartbeat Lease
  await applyObjects(lab.kc, sampleServiceGroups(lab.plan, lab.namespace));
  return lab;
}

export async function stopBackendLab(lab: Lab | undefined): Promise<void> {
  if (!lab) return;
  const name = lab.plan.options.name;
  if (testsFailed()) {
    const log = (m: string) => process.stderr.write(`[${name}] ${m}\n`);
    log(await torSessions(lab));
    reportFailedLab(name, log);
  }
  await downLab(name, () => {}, sharedCluster());
}

export const nodeNames = (lab: Lab, indexes: number[]) => indexes.map((i) => lab.plan.nodes[i]!.name).sort();
export const allNodes = (lab: Lab) => lab.plan.nodes.map((n) => n.name).sort();

/** Creates (server-side apply) a sample-shaped Service and its EndpointSlices in namespace default. */
export async function applyService(lab: Lab, s: SampleService): Promise<void> {
  await applyObjects(lab.kc, [serviceObject(s), ...endpointSlices(lab.plan, s)]);
}

export async function setEndpoints(lab: Lab, s: SampleService, nodeIndexes: number[]): Promise<void> {
  await applyObjects(lab.kc, endpointSlices(lab.plan, s, nodeIndexes));
}

export async function deleteService(lab: Lab, s: SampleService): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(lab.kc);
  for (const o of [serviceObject(s), ...endpointSlices(lab.plan, s)] as KubernetesObject[]) {
    await api.delete(o).catch(() => undefined);
  }
}

export async function readService(lab: Lab, name: string): Promise<V1Service> {
  return lab.kc.makeApiClient(CoreV1Api).readNamespacedService({ name, namespace: 'default' });
}

/** The Service's addresses once the allocator wrote them (IPv4 first). */
export async function addressesOf(lab: Lab, name: string, count: number): Promise<string[]> {
  return waitFor(`${count} ingress address(es) on Service ${name}`, async () => {
    const ips = ((await readService(lab, name)).status?.loadBalancer?.ingress ?? []).map((i) => i.ip!).filter(Boolean);
    return ips.length >= count ? ips.sort((a, b) => Number(a.includes(':')) - Number(b.includes(':'))) : undefined;
  });
}

const hostPrefix = (addr: string) => `${canonicalIP(addr)}/${addr.includes(':') ? 128 : 32}`;

/** The ToR's FIB next hops for the address, as node names (sorted). */
export async function torHops(lab: Lab, address: string): Promise<string[]> {
  const routes = await readVtyshRoutes(lab.plan.torNetns, lab.torVtyDir);
  const names = await nodeByIP(lab.plan);
  return [...new Set((routes[hostPrefix(address)] ?? []).map((ip) => names[ip] ?? ip))].sort();
}

/** The ToR's sessions with the nodes as FRR shows them (which node's BGP or OSPF is not up), for the
 * report of a failed test. */
async function torSessions(lab: Lab): Promise<string> {
  const commands = ['show bgp summary', 'show ip ospf neighbor', 'show ipv6 ospf6 neighbor'];
  const out = await Promise.all(
    commands.map((c) =>
      inNetns(lab.plan.torNetns, 'vtysh', ['--vty_socket', lab.torVtyDir, '-c', c]).catch((e: Error) => e.message),
    ),
  );
  return commands.map((c, i) => `ToR: ${c}\n${out[i]!.trim()}`).join('\n');
}

/** The ToR's kernel route for an address and its neighbour entries: what really forwarded, for an
 * assertion's message when requests did not spread as the routes say. */
export async function torForwarding(lab: Lab, address: string): Promise<string> {
  const f = address.includes(':') ? '-6' : '-4';
  const route = await run('ip', ['-n', lab.plan.torNetns, f, 'route', 'show', address]).catch(() => '?');
  const neigh = await run('ip', ['-n', lab.plan.torNetns, f, 'neigh', 'show']).catch(() => '?');
  return `ToR route: ${route.trim().replace(/\s+/g, ' ')}; ToR neighbours: ${neigh.trim().replace(/\n/g, ' | ')}`;
}

export async function waitHops(lab: Lab, address: string, nodes: string[], timeoutMs = 45_000): Promise<number> {
  const start = Date.now();
  await waitFor(
    `ToR next hops of ${address} = [${nodes.join(',')}]`,
    async () => {
      const seen = await torHops(lab, address);
      if (JSON.stringify(seen) !== JSON.stringify([...nodes].sort())) {
        throw new Error(`last seen [${seen.join(',')}]; logs in ${procDir(lab.plan.options.name)}`);
      }
      return true;
    },
    timeoutMs,
  );
  return Date.now() - start;
}

/** Waits until the next hops are `nodes` and have stayed so for `stableMs` (observed: with BIRD OSPF the
 * restarted node's next hop came and went for up to ~20 s after the restart; cause not investigated). */
export async function waitStableHops(
  lab: Lab,
  address: string,
  nodes: string[],
  stableMs = 5000,
  timeoutMs = 60_000,
): Promise<void> {
  let since: number | undefined;
  await waitFor(
    `ToR next hops of ${address} = [${nodes.join(',')}] for ${stableMs} ms`,
    async () => {
      const seen = await torHops(lab, address);
      if (JSON.stringify(seen) !== JSON.stringify([...nodes].sort())) {
        since = undefined;
        throw new Error(`last seen [${seen.join(',')}]`);
      }
      since ??= Date.now();
      return Date.now() - since >= stableMs;
    },
    timeoutMs,
  );
}

/** 30 requests from the client: node name -> answers. */
export async function spread(lab: Lab, address: string, port = 80, n = 30): Promise<Record<string, number>> {
  return (await requestSpread(lab.plan.clientNetns, address, port, n)).counts;
}

async function macOf(netns: string, dev: string): Promise<string> {
  const [link] = JSON.parse(await run('ip', ['-n', netns, '-j', 'link', 'show', 'dev', dev])) as { address: string }[];
  return link!.address.toLowerCase();
}

/** Node names whose MAC answered ARP (IPv4) or neighbour solicitation (IPv6) for the address on the LAN,
 * asked from the ToR; every answer counts, not only the first. */
export async function arpAnswerers(lab: Lab, address: string): Promise<string[]> {
  const { torNetns, lanBridge } = lab.plan;
  const ask = address.includes(':')
    ? run('ip', ['netns', 'exec', torNetns, 'ndisc6', '-m', '-n', '-r', '2', '-w', '1000', address, lanBridge])
    : run('ip', ['netns', 'exec', torNetns, 'arping', '-c', '3', '-w', '3', '-I', lanBridge, address]);
  const out = await ask.catch((err: Error) => err.message);
  const macs = new Set([...out.matchAll(/([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})/g)].map((m) => m[1]!.toLowerCase()));
  const owners: string[] = [];
  for (const n of lab.plan.nodes) if (macs.has(await macOf(n.netns, 'eth0'))) owners.push(n.name);
  return owners.sort();
}

/** The node whose MAC the ToR's neighbour table holds for the address (where the ToR sends traffic). */
export async function torNeighbourOwner(lab: Lab, address: string): Promise<string | undefined> {
  const [entry] = JSON.parse(await run('ip', ['-n', lab.plan.torNetns, '-j', 'neigh', 'show', address])) as {
    lladdr?: string;
  }[];
  for (const n of lab.plan.nodes)
    if (entry?.lladdr && entry.lladdr.toLowerCase() === (await macOf(n.netns, 'eth0'))) return n.name;
  return undefined;
}

/** Nodes that have the address on any interface. */
export async function nodesHolding(lab: Lab, address: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of lab.plan.nodes) {
    const links = JSON.parse(await run('ip', ['-n', n.netns, '-j', 'addr', 'show'])) as {
      addr_info?: { local?: string }[];
    }[];
    if (links.some((l) => (l.addr_info ?? []).some((a) => a.local && canonicalIP(a.local) === canonicalIP(address))))
      out.push(n.name);
  }
  return out.sort();
}

export function announcing(svc: V1Service, family: 4 | 6): string | undefined {
  return svc.metadata?.annotations?.[family === 4 ? ANN.announcingIPv4 : ANN.announcingIPv6]?.split(',')[0];
}

/** Sends `signal` to the lab process by its recorded name (e.g. "e1a2b1-node1-agent"). */
export function signalProcess(lab: Lab, name: string, signal: NodeJS.Signals): number {
  const pid = pidOf(lab.plan.options.name, name);
  if (!pid) throw new Error(`no lab process named ${name}`);
  process.kill(pid, signal);
  return pid;
}

export async function waitExited(pid: number): Promise<void> {
  await waitFor(
    `pid ${pid} to exit`,
    async () => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, 'utf8')
          .split(' ')[2]
          ?.match(/[RSDIT]/);
      } catch {
        return true;
      }
    },
    10_000,
  );
}
