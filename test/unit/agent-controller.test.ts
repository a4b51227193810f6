// The agent controller driven through fake ports (cluster, kernel, heartbeat, ownership, announcer):
// the reconcile steps' contracts in milliseconds. The real-apiserver and real-kernel behaviour is
// covered by test/integration/agent*.test.ts.
import { describe, expect, jest, test } from '@jest/globals';
import type { KubernetesObject, V1Lease, V1Node, V1Service } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { LBNodeAgent, ServiceGroup } from '../../src/api/types.ts';
import type { AgentCluster, ClusterChange } from '../../src/agent/cluster.ts';
import { AgentController } from '../../src/agent/controller.ts';
import type { HeartbeatWriter } from '../../src/agent/heartbeat.ts';
import { parseIpAddrJson, type KernelLink } from '../../src/agent/interfaces.ts';
import type { NetworkAdapter } from '../../src/agent/iproute.ts';
import { createAgentMetrics } from '../../src/agent/metrics.ts';
import type { OwnerProbe } from '../../src/agent/owner-probe.ts';
import type { OwnershipRecord } from '../../src/agent/ownership.ts';
import type { HeldAddress } from '../../src/agent/plan.ts';
import { LifetimeRenewal } from '../../src/agent/renewal.ts';
import type { EventRecorder } from '../../src/k8s/events.ts';
import { createLogger } from '../../src/log.ts';
import { parseCIDR } from '../../src/api/ip.ts';
import {
  formatProbeEndpoints,
  PROBE_RELEASED,
  PROBE_STOPPING,
  type Heartbeat,
  type ProbeEndpoint,
} from '../../src/model/heartbeat.ts';
import type { AddressServices } from '../../src/routing/attributes.ts';

const NODE = 'n1';
const LAN = '192.168.1.0/24';

/** The kernel: ip-json shaped links; batch lines change them, addresses listed in `refuse` fail. */
class FakeKernel implements NetworkAdapter {
  links: Record<string, { local: string; prefixlen: number; family: 'inet' | 'inet6' }[]> = {
    eth0: [{ local: '192.168.1.11', prefixlen: 24, family: 'inet' }],
  };
  refuse = new Map<string, string>();
  batches: string[][] = [];
  /** What the ownership record held when each batch ran. */
  ownedAtBatch: string[][] = [];
  readonly ownership: OwnershipRecord | undefined;
  constructor(ownership?: OwnershipRecord) {
    this.ownership = ownership;
  }
  async readLinks(): Promise<KernelLink[]> {
    return parseIpAddrJson(JSON.stringify(Object.entries(this.links).map(([ifname, a]) => ({ ifname, addr_info: a }))));
  }
  /** eth0 carries the IPv6 default route too (dual-stack LAN). */
  v6Default = false;
  /** While set, a reconcile's read waits here after it has read the links. */
  hold: Promise<void> | undefined;
  /** 'read' per reconcile read (IPv4 routes), 'batch' per batch: their order. */
  calls: string[] = [];
  async readDefaultRoutes(family: 4 | 6) {
    if (family === 4) this.calls.push('read');
    await this.hold;
    return family === 4 || this.v6Default ? [{ dev: 'eth0', metric: 0 }] : [];
  }
  async ensureLink(ifname: string) {
    this.links[ifname] ??= [];
    return { promoteSecondaries: true };
  }
  async promotesSecondaries() {
    return true;
  }
  async applyBatch(lines: string[]) {
    this.calls.push('batch');
    this.batches.push(lines);
    this.ownedAtBatch.push([...(this.ownership?.owned() ?? [])]);
    const failed: { line: number; message: string }[] = [];
    lines.forEach((line, i) => {
      // `change` adds a missing address, as the kernel does
      const [, op, cidr, dev] = /^address (replace|change|del) (\S+) dev (\S+)/.exec(line) ?? [];
      const [ip, prefix] = cidr!.split('/');
      if (this.refuse.has(ip!)) return failed.push({ line: i + 1, message: this.refuse.get(ip!)! });
      const addrs = (this.links[dev!] ??= []).filter((a) => a.local !== ip);
      if (op !== 'del')
        addrs.push({ local: ip!, prefixlen: Number(prefix), family: ip!.includes(':') ? 'inet6' : 'inet' });
      this.links[dev!] = addrs;
    });
    return { failed };
  }
  addresses(dev: string): string[] {
    return (this.links[dev] ?? []).map((a) => `${a.local}/${a.prefixlen}`).sort();
  }
}

class FakeCluster implements AgentCluster {
  svcs: V1Service[] = [];
  groups: ServiceGroup[] = [];
  leases: V1Lease[] = [];
  node: V1Node = { metadata: { name: NODE, uid: 'uid-n1' }, spec: {} };
  annotations: string[] = [];
  emitted: string[] = [];
  handlers = new Map<ClusterChange, ((o: KubernetesObject | undefined) => void)[]>();
  synced = Promise.resolve();
  events: EventRecorder = {
    emit: (obj, type, reason, note) => {
      this.emitted.push(`${obj.kind}/${obj.metadata?.name} ${type} ${reason}: ${note}`);
      return true;
    },
    reset: () => {},
    flush: async () => {},
  };
  services = () => this.svcs;
  service = (ns: string, name: string) =>
    this.svcs.find((s) => s.metadata?.namespace === ns && s.metadata?.name === name);
  endpointSlices = () => [];
  serviceGroups = () => this.groups;
  agent: LBNodeAgent | undefined = {
    apiVersion: 'purelb.io/v1',
    kind: 'LBNodeAgent',
    metadata: { name: 'default', namespace: 'purelb' },
    spec: { local: { localint: 'default', extlbint: 'kube-lb0', sendgarp: true } },
  };
  lbNodeAgent = () => this.agent;
  heartbeatLeases = () => this.leases;
  /** The subnets of each setSegments call, with the number of kernel batches run before it. */
  segmentCalls: Array<{ subnets: string[]; batchesBefore: number }> = [];
  kernel: FakeKernel | undefined;
  /** While set, a segment that is new to setSegments stays unlisted until listSegments(). */
  holdSegments = false;
  #watched = new Set<string>();
  #unlisted = new Set<string>();
  #listed: (() => void) | undefined;
  async setSegments(subnets: readonly string[]) {
    this.segmentCalls.push({ subnets: [...subnets], batchesBefore: this.kernel?.batches.length ?? 0 });
    for (const s of subnets) if (this.holdSegments && !this.#watched.has(s)) this.#unlisted.add(s);
    this.#watched = new Set(subnets);
    if (this.pendingSegments().length) await new Promise<void>((r) => (this.#listed = r));
  }
  pendingSegments = () => [...this.#unlisted].filter((s) => this.#watched.has(s));
  /** The segment watches list: a relist notification, as the real watches send. */
  listSegments() {
    this.#unlisted.clear();
    this.#listed?.();
    this.fire('leases');
  }
  ownNode = () => this.node;
  onChange(what: ClusterChange, h: (o: KubernetesObject | undefined) => void) {
    this.handlers.set(what, [...(this.handlers.get(what) ?? []), h]);
  }
  fire(what: ClusterChange, obj?: KubernetesObject) {
    for (const h of this.handlers.get(what) ?? []) h(obj);
  }
  /** resourceVersion preconditions of the announcing writes. */
  preconditions: (string | undefined)[] = [];
  /** The apiserver answers 409 to the announcing writes (a newer Service version is stored). */
  conflict = false;
  async setAnnouncing(ns: string, name: string, family: 4 | 6, value: string, resourceVersion?: string) {
    this.preconditions.push(resourceVersion);
    if (this.conflict) throw Object.assign(new Error('Conflict'), { code: 409 });
    this.annotations.push(`${ns}/${name} IPv${family}=${value}`);
  }
  async stop() {}
}

class FakeHeartbeat implements HeartbeatWriter {
  live = true;
  /** Whether the Lease extension for a restart succeeds. */
  extendsForRestart = true;
  subnets: string[] = [];
  labels: Record<string, string> = {};
  routingRejected: string | undefined;
  log: string[] = [];
  async start() {
    this.log.push('start');
    return true;
  }
  setSubnets(s: string[]) {
    this.subnets = s;
  }
  setLabels(l: Record<string, string>) {
    this.labels = l;
  }
  setRoutingRejected(reason: string | undefined) {
    this.routingRejected = reason;
  }
  probe = '';
  setProbeEndpoints(value: string) {
    this.probe = value;
  }
  self(now: number): Heartbeat | undefined {
    return this.live && !this.log.includes('suspend')
      ? {
          node: NODE,
          subnets: this.subnets.map((s) => parseCIDR(s)!),
          labels: this.labels,
          expiresAt: now + 10_000,
          renewedAt: now,
          ...(this.routingRejected ? { routingRejected: this.routingRejected } : {}),
        }
      : undefined;
  }
  suspend() {
    this.log.push('suspend');
  }
  async resume() {
    this.log.push('resume');
    return true;
  }
  async markOutOfService(reason: string) {
    this.log.push(`mark ${reason}`);
    return true;
  }
  async stop(deleteLease: boolean) {
    this.log.push(`stop ${deleteLease}`);
  }
  async stopForRestart(graceS: number) {
    this.log.push(`stopForRestart ${graceS}`);
    return this.extendsForRestart;
  }
}

function memoryOwnership(): OwnershipRecord {
  let keys = new Set<string>();
  return {
    owned: () => keys,
    async update(add, remove) {
      const next = new Set(keys);
      for (const k of add) next.add(k);
      for (const k of remove) next.delete(k);
      keys = next;
    },
  };
}

const service = (name: string, ip: string, extra: Record<string, string> = {}): V1Service => ({
  metadata: {
    name,
    namespace: 'default',
    annotations: { 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'default', ...extra },
  },
  spec: { type: 'LoadBalancer' },
  status: { loadBalancer: { ingress: [{ ip }] } },
});

const peerLease = (node: string, subnets: string): V1Lease => ({
  metadata: { name: `purelb-node-${node}`, annotations: { 'purelb.io/subnets': subnets } },
  spec: { holderIdentity: node, leaseDurationSeconds: 30, renewTime: new Date() },
});

function setup(
  opts: {
    restartGraceS?: number;
    localLifetimeS?: number;
    probe?: OwnerProbe;
    probeEndpoint?: { port: number; families: Array<4 | 6>; releasedAnswerMs?: number };
  } = {},
) {
  const ownership = memoryOwnership();
  const kernel = new FakeKernel(ownership);
  const cluster = new FakeCluster();
  cluster.kernel = kernel;
  const heartbeat = new FakeHeartbeat();
  const garps: string[] = [];
  const virtual: string[][] = [];
  const handed: AddressServices[] = [];
  const logs: string[] = [];
  const controller = new AgentController(
    {
      node: NODE,
      namespace: 'purelb',
      configName: 'default',
      linkKind: 'dummy',
      localLifetimeS: opts.localLifetimeS ?? 0,
      restartGraceS: opts.restartGraceS ?? 0,
      ...(opts.probeEndpoint ? { probeEndpoint: opts.probeEndpoint } : {}),
      onVirtualAddresses: (cidrs, _ifname, services) => {
        virtual.push(cidrs);
        handed.push(services);
      },
      log: createLogger('test', {}, (l) => logs.push(l)),
      metrics: createAgentMetrics(new Registry()),
    },
    {
      cluster,
      net: kernel,
      heartbeat,
      ownership,
      announce: (targets) => void garps.push(...targets.map((g) => `${g.ifname} ${g.ip}`)),
      ...(opts.probe ? { probe: opts.probe } : {}),
    },
  );
  const reconcile = async () => {
    controller.trigger();
    await controller.idle();
  };
  return { controller, kernel, cluster, heartbeat, ownership, garps, virtual, handed, logs, reconcile };
}

describe('agent controller (fake ports)', () => {
  test('a local address this node wins goes on the LAN interface, is announced (GARP, annotation, event)', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240')];
    await t.controller.start(60_000);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    expect(t.garps).toEqual(['eth0 192.168.1.240']);
    expect(t.cluster.annotations).toEqual(['default/web IPv4=n1,eth0']);
    expect(t.heartbeat.subnets).toEqual([LAN]);
    await new Promise((r) => setImmediate(r)); // events go through their own queue
    expect(t.cluster.emitted).toEqual([expect.stringMatching(/^Service\/web Normal \w+: .*192\.168\.1\.240.*eth0/)]);
    await t.controller.stop();
  });

  test('the routing side is handed the labels and groups of the Services behind each virtual address', async () => {
    const t = setup();
    const web = service('web', '10.9.0.1', { 'purelb.io/allocated-from': 'virt' });
    web.metadata!.labels = { tier: 'gold' };
    t.cluster.svcs = [web];
    await t.controller.start(60_000);
    expect(t.handed.at(-1)).toEqual({
      '10.9.0.1/32': [{ key: 'default/web', labels: { tier: 'gold' }, groups: ['virt'] }],
    });
    // a label change alone reaches the routing side at the next reconcile
    t.cluster.svcs = [{ ...web, metadata: { ...web.metadata, labels: { tier: 'bronze' } } }];
    await t.reconcile();
    expect(t.handed.at(-1)).toEqual({
      '10.9.0.1/32': [{ key: 'default/web', labels: { tier: 'bronze' }, groups: ['virt'] }],
    });
    await t.controller.stop();
  });

  test('ownership is recorded before the kernel batch (a crash mid-batch orphans nothing)', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240')];
    await t.controller.start(60_000);
    expect(t.kernel.ownedAtBatch[0]).toEqual(['eth0 192.168.1.240/24']);
    expect([...t.ownership.owned()]).toEqual(['eth0 192.168.1.240/24']);
    await t.controller.stop();
  });

  test('a refused kernel change becomes a Warning event on the Service, no annotation and no ownership', async () => {
    const t = setup();
    t.kernel.refuse.set('192.168.1.240', 'RTNETLINK answers: Permission denied');
    t.cluster.svcs = [service('web', '192.168.1.240'), service('ok', '10.9.0.1')];
    await t.controller.start(60_000);
    await new Promise((r) => setImmediate(r)); // events go through their own queue
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    expect(t.cluster.annotations).toEqual([]);
    expect([...t.ownership.owned()]).toEqual(['kube-lb0 10.9.0.1/32']);
    const warning = t.cluster.emitted.find((e) => e.startsWith('Service/web Warning'));
    expect(warning).toContain('could not add 192.168.1.240/24 on eth0: RTNETLINK answers: Permission denied');
    // the virtual address of the other Service is unaffected
    expect(t.kernel.addresses('kube-lb0')).toEqual(['10.9.0.1/32']);
    expect(t.virtual.at(-1)).toEqual(['10.9.0.1/32']);
    await t.controller.stop();
  });

  test('fenced (own heartbeat not renewed): the local address goes, virtual addresses stay', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240'), service('v', '10.9.0.1')];
    await t.controller.start(60_000);
    expect(t.kernel.addresses('eth0')).toContain('192.168.1.240/24');
    t.heartbeat.live = false;
    t.controller.liveChanged(false);
    await t.controller.idle();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    expect(t.kernel.addresses('kube-lb0')).toEqual(['10.9.0.1/32']);
    await t.controller.stop();
  });

  test('a peer that wins the election keeps the address off this node', async () => {
    const t = setup();
    // pick an address whose rendezvous winner between n1 and n2 is n2
    const { electWinner } = await import('../../src/agent/election.ts');
    const ip = [...Array(50).keys()]
      .map((i) => `192.168.1.${200 + i}`)
      .find((a) => electWinner(a, ['n1', 'n2']) === 'n2')!;
    t.cluster.svcs = [service('web', ip)];
    t.cluster.leases = [peerLease('n2', LAN)];
    await t.controller.start(60_000);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    // the peer's Lease goes: this node takes over and tells the LAN
    t.cluster.leases = [];
    t.cluster.fire('leases');
    await t.controller.idle();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', `${ip}/24`]);
    expect(t.garps).toEqual([`eth0 ${ip}`]);
    await t.controller.stop();
  });

  test('an address another node announced meanwhile is announced again once, not on every reconcile until the watch shows the claim', async () => {
    const t = setup();
    // n1 wins it, but the Service says n2 announced it (an interim owner while n1's agent was down)
    t.cluster.svcs = [service('web', '192.168.1.240', { 'purelb.io/announcing-IPv4': 'n2,eth0' })];
    await t.controller.start(60_000);
    await new Promise((r) => setImmediate(r));
    expect(t.garps).toEqual(['eth0 192.168.1.240']);
    expect(t.cluster.annotations).toEqual(['default/web IPv4=n1,eth0']);
    // more reconciles before the watch shows n1's write: no GARP, no second write
    for (let i = 0; i < 3; i++) {
      t.controller.trigger();
      await t.controller.idle();
    }
    expect(t.garps).toEqual(['eth0 192.168.1.240']);
    expect(t.cluster.annotations).toEqual(['default/web IPv4=n1,eth0']);
    expect(t.logs.filter((l) => l.includes('announcing local address'))).toHaveLength(1);
    await t.controller.stop();
  });

  test("the first election waits until the Leases of the node's segments are listed", async () => {
    const t = setup();
    t.cluster.holdSegments = true;
    t.cluster.svcs = [service('web', '192.168.1.240')];
    const started = t.controller.start(60_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(t.cluster.segmentCalls).toEqual([{ subnets: [LAN], batchesBefore: 0 }]);
    expect(t.kernel.batches).toEqual([]);
    expect(t.controller.ready()).not.toBe(true);
    t.cluster.listSegments();
    await started;
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    await t.controller.stop();
  });

  test('a subnet the node gets later: no new address in it until its Leases are listed, then the election runs', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240'), service('new', '10.5.0.240')];
    await t.controller.start(60_000);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    t.cluster.holdSegments = true;
    t.kernel.links.eth0!.push({ local: '10.5.0.11', prefixlen: 24, family: 'inet' });
    await t.reconcile();
    expect(t.cluster.segmentCalls.at(-1)?.subnets).toEqual(['10.5.0.0/24', LAN]);
    expect(t.heartbeat.subnets).toEqual(['10.5.0.0/24', LAN]);
    // the address already held stays; the one on the unlisted subnet waits
    expect(t.kernel.addresses('eth0')).toEqual(['10.5.0.11/24', '192.168.1.11/24', '192.168.1.240/24']);
    t.cluster.listSegments(); // no peer there: the listing alone re-elects
    await t.controller.idle();
    expect(t.kernel.addresses('eth0')).toContain('10.5.0.240/24');
    await t.controller.stop();
  });

  test('cordoned: every address withdrawn, heartbeat suspended then the Lease marked, one Node event', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240'), service('v', '10.9.0.1')];
    await t.controller.start(60_000);
    t.cluster.node = { ...t.cluster.node, spec: { unschedulable: true } };
    t.cluster.fire('node', t.cluster.node);
    await t.controller.idle();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    expect(t.kernel.addresses('kube-lb0')).toEqual([]);
    expect(t.heartbeat.log).toEqual(['start', 'suspend', 'mark it is cordoned (spec.unschedulable)']);
    expect(t.cluster.emitted.filter((e) => e.startsWith('Node/n1'))).toEqual([
      expect.stringMatching(
        /^Node\/n1 Normal OutOfService: node n1 is out of service because .*withdrew 1 virtual and 1 local/,
      ),
    ]);
    await t.controller.stop();
  });

  test('stop with restart grace keeps every address; without grace the local ones are withdrawn', async () => {
    for (const [grace, expected] of [
      [30, ['192.168.1.11/24', '192.168.1.240/24']],
      [0, ['192.168.1.11/24']],
    ] as const) {
      const t = setup({ restartGraceS: grace });
      t.cluster.svcs = [service('web', '192.168.1.240')];
      await t.controller.start(60_000);
      await t.controller.stop();
      expect(t.kernel.addresses('eth0')).toEqual(expected);
      expect(t.heartbeat.log.at(-1)).toBe(grace ? 'stopForRestart 30' : 'stop true');
    }
  });

  test('the probe answer says released once a stop without grace has withdrawn the local addresses, not with grace', async () => {
    for (const [grace, answer] of [
      [0, PROBE_RELEASED],
      [30, PROBE_STOPPING],
    ] as const) {
      const t = setup({ restartGraceS: grace });
      t.cluster.svcs = [service('web', '192.168.1.240')];
      await t.controller.start(60_000);
      expect(t.controller.candidate()).toBe(true);
      await t.controller.stop();
      expect(t.controller.candidate()).toBe(answer);
    }
  });

  test('a reconcile lets the event loop turn between its steps: LAN probes are answered and read meanwhile', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240')];
    await t.controller.start(60_000);
    t.cluster.svcs.push(service('v', '10.9.0.1'));
    const batches = t.kernel.batches.length;
    let turns = 0;
    const tick = () => {
      turns++;
      if (t.kernel.batches.length === batches) setImmediate(tick);
    };
    setImmediate(tick);
    t.controller.trigger();
    while (t.kernel.batches.length === batches) await new Promise((r) => setTimeout(r, 1));
    // the fakes answer at once: without turns between the steps the read-to-apply ran in one go
    expect(turns).toBeGreaterThanOrEqual(3);
    await t.controller.stop();
  });

  test('a stop that released its local addresses keeps answering released for releasedAnswerMs before it returns', async () => {
    const t = setup({ probeEndpoint: { port: 7473, families: [4], releasedAnswerMs: 400 } });
    t.cluster.svcs = [service('web', '192.168.1.240')];
    await t.controller.start(60_000);
    const stopped = t.controller.stop().then(() => Date.now());
    while (t.controller.candidate() !== PROBE_RELEASED) await new Promise((r) => setImmediate(r));
    const releasedAt = Date.now();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    expect((await stopped) - releasedAt).toBeGreaterThanOrEqual(390);
    expect(t.controller.candidate()).toBe(PROBE_RELEASED);
  });

  test('stop withdraws the local addresses without waiting for the reconcile in progress, which then adds nothing', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240')];
    await t.controller.start(60_000);
    t.cluster.svcs.push(service('v', '10.9.0.1'));
    let release!: () => void;
    t.kernel.hold = new Promise((r) => (release = r));
    t.controller.trigger();
    await new Promise((r) => setImmediate(r));
    const stopped = t.controller.stop();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    // the reconcile still waits in its read
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    expect(t.controller.candidate()).toBe(PROBE_RELEASED);
    release();
    await stopped;
    expect(t.kernel.addresses('kube-lb0')).toEqual([]);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
  });

  test('a stop that comes after the reconcile has read the node: that reconcile applies nothing', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '192.168.1.240')];
    await t.controller.start(60_000);
    t.cluster.svcs.push(service('v', '10.9.0.1'));
    let stopped: Promise<void> | undefined;
    const setSubnets = t.heartbeat.setSubnets.bind(t.heartbeat);
    // called by the reconcile's read once it has read the node
    t.heartbeat.setSubnets = (subnets) => {
      stopped ??= t.controller.stop();
      setSubnets(subnets);
    };
    await t.reconcile();
    await stopped;
    expect(t.kernel.addresses('kube-lb0')).toEqual([]);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
  });

  test('an announcing write that meets a newer Service (409) is decided again on the next event of it', async () => {
    const t = setup();
    const svc = service('web', '192.168.1.240');
    svc.metadata!.resourceVersion = '1';
    t.cluster.svcs = [svc];
    let conflicts = 1;
    const write = t.cluster.setAnnouncing.bind(t.cluster);
    t.cluster.setAnnouncing = async (ns, name, family, value, rv) => {
      if (conflicts-- > 0) throw Object.assign(new Error('the object has been modified'), { code: 409 });
      await write(ns, name, family, value, rv);
    };
    await t.controller.start(60_000);
    await new Promise((r) => setTimeout(r, 10));
    expect(t.cluster.annotations).toEqual([]);
    // the watch shows the newer version; nothing the reconcile reads changed (say, the other family's write)
    t.cluster.svcs = [{ ...svc, metadata: { ...svc.metadata, resourceVersion: '2' } }];
    t.cluster.fire('services', t.cluster.svcs[0]);
    await t.controller.idle();
    await new Promise((r) => setTimeout(r, 10));
    expect(t.cluster.annotations).toEqual(['default/web IPv4=n1,eth0']);
    expect(t.cluster.preconditions).toEqual(['2']);
    await t.controller.stop();
  });

  test('a Service deleted and created again under its name is written at once, though its old version was just written', async () => {
    const t = setup();
    const web = service('web', '192.168.1.240');
    web.metadata!.resourceVersion = '1';
    t.cluster.svcs = [web];
    await t.controller.start(60_000);
    expect(t.cluster.annotations).toEqual(['default/web IPv4=n1,eth0']);
    // before the watch showed the write's echo, the Service was deleted and created again: no annotation
    t.cluster.svcs = [];
    t.cluster.fire('services', web);
    await t.controller.idle();
    t.cluster.svcs = [{ ...web, metadata: { ...web.metadata, resourceVersion: '7' } }];
    t.cluster.fire('services', t.cluster.svcs[0]);
    await t.controller.idle();
    await new Promise((r) => setTimeout(r, 10));
    expect(t.cluster.annotations).toEqual(['default/web IPv4=n1,eth0', 'default/web IPv4=n1,eth0']);
    expect(t.cluster.preconditions).toEqual(['1', '7']);
    await t.controller.stop();
  });

  test('stop writes the events already queued (bounded), instead of dropping them', async () => {
    const t = setup({ restartGraceS: 30 });
    t.cluster.events.flush = () => new Promise((r) => setTimeout(r, 50)); // a slow apiserver
    t.cluster.svcs = ['a', 'b', 'c'].map((n, i) => service(n, `192.168.1.${241 + i}`));
    await t.controller.start(60_000);
    await t.controller.stop();
    expect(t.cluster.emitted.map((e) => e.split(' ')[0])).toEqual(['Service/a', 'Service/b', 'Service/c']);
  });

  test("the echo of the node's own announcing write reconciles nothing; another node's value does", async () => {
    const t = setup();
    const web = service('web', '192.168.1.240');
    t.cluster.svcs = [web];
    await t.controller.start(60_000);
    expect(t.cluster.annotations).toEqual(['default/web IPv4=n1,eth0']);
    const reconciles = t.virtual.length; // one report per reconcile
    const announcedBy = (value: string, resourceVersion: string): V1Service => ({
      ...web,
      metadata: {
        ...web.metadata,
        resourceVersion,
        annotations: { ...web.metadata!.annotations, 'purelb.io/announcing-IPv4': value },
      },
    });
    t.cluster.svcs = [announcedBy('n1,eth0', '2')];
    t.cluster.fire('services', t.cluster.svcs[0]);
    await t.controller.idle();
    expect(t.virtual.length).toBe(reconciles);
    t.cluster.svcs = [announcedBy('n2,eth0', '3')];
    t.cluster.fire('services', t.cluster.svcs[0]);
    await t.controller.idle();
    expect(t.virtual.length).toBe(reconciles + 1);
    t.cluster.svcs = [];
    t.cluster.fire('services', web); // deleted: the cache no longer has it
    await t.controller.idle();
    expect(t.virtual.length).toBe(reconciles + 2);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    await t.controller.stop();
  });

  test('a Service that is not ours and never was does not reconcile; one that stops being ours does', async () => {
    const t = setup();
    t.cluster.svcs = [service('web', '10.9.0.1')];
    await t.controller.start(60_000);
    const batches = t.kernel.batches.length;
    const foreign: V1Service = { metadata: { name: 'x', namespace: 'default' } };
    t.cluster.fire('services', foreign);
    await t.controller.idle();
    t.cluster.svcs = [{ ...t.cluster.svcs[0]!, metadata: { ...t.cluster.svcs[0]!.metadata, annotations: {} } }];
    t.cluster.fire('services', t.cluster.svcs[0]);
    await t.controller.idle();
    expect(t.kernel.batches.length).toBe(batches + 1);
    expect(t.kernel.addresses('kube-lb0')).toEqual([]);
    await t.controller.stop();
  });
});

describe('LAN probes: the successor takes over from a silent owner (fake ports)', () => {
  class FakeProbe implements OwnerProbe {
    watched = new Map<string, string>();
    watch(owners: ReadonlyMap<string, ProbeEndpoint>) {
      this.watched = new Map([...owners].map(([o, e]) => [o, formatProbeEndpoints([e])]));
    }
    /** The released hints this node sent: "node endpoint". */
    told: string[] = [];
    probeNow() {
      return false;
    }
    tellReleased(node: string, successors: readonly ProbeEndpoint[]) {
      this.told.push(...successors.map((e) => `${node} ${formatProbeEndpoints([e])}`));
    }
    stop() {
      this.watched.clear();
    }
  }
  /** n2 owns the address (its annotation) and publishes its probe endpoint; n1 is the only other candidate. */
  const owned = (restarting = false) => {
    const probe = new FakeProbe();
    const t = setup({ probe, probeEndpoint: { port: 7473, families: [4] } });
    const lease = peerLease('n2', LAN);
    lease.metadata!.annotations!['purelb.io/probe'] = '192.168.1.12:7473';
    if (restarting) lease.metadata!.annotations!['purelb.io/restarting'] = 'for up to 30s';
    t.cluster.leases = [lease];
    const shared = (name: string) => {
      const svc = service(name, '192.168.1.240', { 'purelb.io/announcing-IPv4': 'n2,eth0' });
      svc.metadata!.resourceVersion = `rv-${name}`;
      return svc;
    };
    t.cluster.svcs = [shared('web'), shared('api')];
    return { ...t, probe };
  };
  /** The watch shows every Service announced by `node` (a newer version each). */
  const showClaims = (t: ReturnType<typeof owned>, node: string) => {
    t.cluster.svcs = t.cluster.svcs.map((svc) => ({
      ...svc,
      metadata: {
        ...svc.metadata,
        resourceVersion: `${svc.metadata!.resourceVersion}-${node}`,
        annotations: { ...svc.metadata!.annotations, 'purelb.io/announcing-IPv4': `${node},eth0` },
      },
    }));
  };
  /** n2's address is on this node, announced (GARP, event log) exactly once, as taken over from n2. */
  const expectTakenOverOnce = (t: ReturnType<typeof owned>) => {
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    expect(t.garps).toEqual(['eth0 192.168.1.240']);
    expect(t.logs.filter((l) => l.includes('announcing local address'))).toEqual([
      expect.stringContaining('"previousOwner":"n2,eth0"'),
    ]);
  };

  test('publishes endpoints only in the families its health server listens on (0.0.0.0: IPv4 only)', async () => {
    for (const [families, published] of [
      [[4], '192.168.1.11:7473'],
      [[4, 6], '192.168.1.11:7473,[fd00:1::11]:7473'],
    ] as const) {
      const t = setup({ probe: new FakeProbe(), probeEndpoint: { port: 7473, families: [...families] } });
      t.kernel.links.eth0!.push({ local: 'fd00:1::11', prefixlen: 64, family: 'inet6' });
      t.kernel.v6Default = true;
      await t.controller.start(60_000);
      expect(t.heartbeat.probe).toBe(published);
      await t.controller.stop();
    }
  });

  test('publishes its own endpoint, probes only the owner it succeeds, claims every sharing Service before adding', async () => {
    const t = owned();
    await t.controller.start(60_000);
    expect(t.heartbeat.probe).toBe('192.168.1.11:7473');
    expect(t.probe.watched).toEqual(new Map([['n2', '192.168.1.12:7473']]));
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    expect(t.cluster.annotations).toEqual([]);

    t.controller.ownerUnreachable('n2');
    await new Promise((r) => setImmediate(r)); // the claim writes run from their queue
    await t.controller.idle();
    // one write per Service, each on the version the decision was made on
    expect(t.cluster.annotations.sort()).toEqual(['default/api IPv4=n1,eth0', 'default/web IPv4=n1,eth0']);
    expect(t.cluster.preconditions.sort()).toEqual(['rv-api', 'rv-web']);
    // stored: the address is added and announced although the watch still shows n2's annotation
    expectTakenOverOnce(t);
    expect(t.probe.watched).toEqual(new Map()); // n1 owns it now: nobody left to probe
    await t.controller.stop();
  });

  test('a stop that released its local addresses tells their successors to probe it now; one with a restart grace does not', async () => {
    for (const [grace, told] of [
      [0, ['n1 192.168.1.12:7473']],
      [30, []],
    ] as const) {
      const probe = new FakeProbe();
      const t = setup({ probe, probeEndpoint: { port: 7473, families: [4] }, restartGraceS: grace });
      const lease = peerLease('n2', LAN);
      lease.metadata!.annotations!['purelb.io/probe'] = '192.168.1.12:7473';
      t.cluster.leases = [lease];
      t.cluster.svcs = [service('web', '192.168.1.240', { 'purelb.io/announcing-IPv4': 'n1,eth0' })];
      await t.controller.start(60_000);
      expect(t.kernel.addresses('eth0')).toContain('192.168.1.240/24');
      expect(probe.watched).toEqual(new Map()); // n1 owns it: n2 is the successor
      await t.controller.stop();
      expect(probe.told).toEqual(told);
    }
  });

  /** Runs `during` while a reconcile that has read the kernel waits; then lets it finish. */
  const whileReconciling = async (t: ReturnType<typeof owned>, during: () => Promise<void>) => {
    let release!: () => void;
    t.kernel.hold = new Promise((r) => (release = r));
    t.controller.trigger();
    await new Promise((r) => setImmediate(r));
    await during();
    t.kernel.hold = undefined;
    release();
    await t.controller.idle();
  };
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };

  test('a stored claim adds the address at once, not after the reconcile in progress; that reconcile keeps it and announces it once', async () => {
    const t = owned();
    await t.controller.start(60_000);
    await whileReconciling(t, async () => {
      t.controller.ownerUnreachable('n2');
      await settle();
      expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
      expect(t.garps).toEqual(['eth0 192.168.1.240']);
      expect(t.ownership.owned()).toContain('eth0 192.168.1.240/24');
    });
    // the reconcile read the kernel before the address was added: it neither prunes nor announces it
    expect(t.ownership.owned()).toContain('eth0 192.168.1.240/24');
    expectTakenOverOnce(t);
    await t.controller.stop();
  });

  test('a probe that fails after the watch showed its stored claims writes them no more', async () => {
    const t = owned();
    await t.controller.start(60_000);
    await whileReconciling(t, async () => {
      t.controller.ownerUnreachable('n2');
      await settle();
      expect(t.cluster.annotations.sort()).toEqual(['default/api IPv4=n1,eth0', 'default/web IPv4=n1,eth0']);
      // the watch shows both claims; the reconcile that stops probing n2 has not decided yet
      showClaims(t, 'n1');
      t.controller.ownerUnreachable('n2');
      await settle();
    });
    expect(t.cluster.annotations).toHaveLength(2);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    await t.controller.stop();
  });

  test('the Lease of the owner it succeeds is deleted: it claims and adds at once, before any reconcile', async () => {
    const t = owned();
    await t.controller.start(60_000);
    await whileReconciling(t, async () => {
      t.cluster.leases = [];
      t.cluster.fire('leases');
      await settle();
      expect(t.cluster.annotations.sort()).toEqual(['default/api IPv4=n1,eth0', 'default/web IPv4=n1,eth0']);
      expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
      expect(t.logs.filter((l) => l.includes('claiming the local addresses'))).toEqual([
        expect.stringContaining('heartbeat Lease is gone'),
      ]);
    });
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    expect(t.garps).toEqual(['eth0 192.168.1.240']);
    await t.controller.stop();
  });

  test('the reconcile of that membership change waits for the claims: the takeover runs first, then one reconcile', async () => {
    const t = owned();
    await t.controller.start(60_000);
    const before = t.kernel.calls.length;
    t.cluster.leases = [];
    t.cluster.fire('leases');
    await settle();
    await t.controller.idle();
    expect(t.kernel.calls.slice(before)).toEqual(['batch', 'read']);
    expect(t.kernel.batches.at(-1)).toEqual(['address replace 192.168.1.240/24 dev eth0']);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    await t.controller.stop();
  });

  test('a reconcile gives way to a takeover at its next step and runs again after it, instead of deciding beside it', async () => {
    const t = owned();
    await t.controller.start(60_000);
    const update = t.ownership.update.bind(t.ownership);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // the takeover waits in its ownership write while a reconcile that read the node before goes on
    t.ownership.update = async (add, del) => {
      if ([...add].includes('eth0 192.168.1.240/24')) await held;
      await update(add, del);
    };
    const before = t.kernel.calls.length;
    t.cluster.svcs.push(service('v', '10.9.0.1'));
    let readDone!: () => void;
    t.kernel.hold = new Promise((r) => (readDone = r));
    t.controller.trigger();
    await settle();
    t.controller.ownerUnreachable('n2', 'released');
    await settle();
    t.kernel.hold = undefined;
    readDone();
    await settle();
    expect(t.kernel.calls.slice(before)).toEqual(['read']);
    release();
    await settle();
    await t.controller.idle();
    // the takeover's batch, then a reconcile that reads the node again (the one that read before it
    // decided nothing): the virtual address of the new Service comes with that second read
    expect(t.kernel.calls.slice(before, before + 4)).toEqual(['read', 'batch', 'read', 'batch']);
    expect(t.kernel.batches.at(-1)).toEqual(['address replace 10.9.0.1/32 dev kube-lb0']);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    await t.controller.stop();
  });

  test.each([
    { cause: 'released', what: 'released its addresses', why: 'it released them' },
    { cause: 'refused', what: 'lost its agent (probes refused)', why: 'its agent is gone' },
  ] as const)(
    'an owner that $what: added at once, before its claims are stored; reconciles meanwhile keep it',
    async ({ cause, why }) => {
      const t = owned();
      await t.controller.start(60_000);
      let store!: () => void;
      const stored = new Promise<void>((r) => (store = r));
      const write = t.cluster.setAnnouncing.bind(t.cluster);
      t.cluster.setAnnouncing = async (...args) => {
        await stored;
        await write(...args);
      };
      t.controller.ownerUnreachable('n2', cause);
      await settle();
      expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
      expect(t.garps).toEqual(['eth0 192.168.1.240']);
      expect(t.cluster.annotations).toEqual([]);
      expect(t.logs.filter((l) => l.includes('claiming the local addresses'))).toEqual([expect.stringContaining(why)]);
      // n2's Lease is still live in the cache and the Services still name it: it holds nothing all the same
      await t.reconcile();
      t.cluster.fire('leases');
      await t.reconcile();
      expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
      store();
      await settle();
      await t.controller.idle();
      expect(t.cluster.annotations.sort()).toEqual(['default/api IPv4=n1,eth0', 'default/web IPv4=n1,eth0']);
      expectTakenOverOnce(t);
      await t.controller.stop();
    },
  );

  test('two successors both add for an owner whose probes are refused: the one whose claim lost (409) removes the address once the winner shows', async () => {
    // this node has not seen n3's Lease yet: it takes itself for n2's only successor
    const t = owned();
    await t.controller.start(60_000);
    expect(t.probe.watched.has('n2')).toBe(true);
    t.cluster.conflict = true; // n3's claims were stored first
    t.controller.ownerUnreachable('n2', 'refused');
    await settle();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    await t.controller.idle();
    // the watch shows n3's Lease and claims: this node withdraws
    t.cluster.leases.push(peerLease('n3', LAN));
    showClaims(t, 'n3');
    t.cluster.fire('leases');
    await t.reconcile();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    await t.controller.stop();
  });

  test('a released owner is no candidate until an agent renews its Lease after the release', async () => {
    const { electWinner } = await import('../../src/agent/election.ts');
    const [first, second] = Array.from({ length: 100 }, (_, i) => `192.168.1.${100 + i}`).filter(
      (a) => electWinner(a, ['n1', 'n2']) === 'n2',
    );
    const t = owned();
    await t.controller.start(60_000);
    t.controller.ownerUnreachable('n2', 'released');
    await settle();
    await t.controller.idle();
    // a new address n2 would win goes to n1 while n2 is stopping
    t.cluster.svcs.push(service('first', first!));
    await t.reconcile();
    expect(t.kernel.addresses('eth0')).toContain(`${first}/24`);
    expect(t.cluster.annotations).toContain('default/first IPv4=n1,eth0');
    t.cluster.svcs.push(service('first', first!, { 'purelb.io/announcing-IPv4': 'n1,eth0' })); // the watch shows it
    t.cluster.svcs.splice(-2, 1);
    // the next agent on n2 renews its Lease
    t.cluster.leases[0]!.spec!.renewTime = new Date(Date.now() + 1000);
    t.cluster.fire('leases');
    t.cluster.svcs.push(service('second', second!));
    await t.reconcile();
    expect(t.kernel.addresses('eth0')).not.toContain(`${second}/24`);
    // and takes nothing back
    expect(t.kernel.addresses('eth0')).toContain(`${first}/24`);
    await t.controller.stop();
  });

  test('an address the silent owner gained since it was reported (its own stored claim) is not claimed from it until it answers again', async () => {
    const t = owned();
    t.cluster.conflict = true; // the first claims meet newer versions: .240 stays with n2 for now
    await t.controller.start(60_000);
    t.controller.ownerUnreachable('n2');
    await settle();
    await t.controller.idle();
    const late = service('late', '192.168.1.241', { 'purelb.io/announcing-IPv4': 'n2,eth0' });
    late.metadata!.resourceVersion = 'rv-late';
    t.cluster.svcs.push(late);
    t.cluster.fire('services', late);
    await t.controller.idle();
    t.cluster.conflict = false;
    t.cluster.annotations = [];
    t.controller.ownerUnreachable('n2');
    await settle();
    await t.controller.idle();
    expect(t.cluster.annotations.sort()).toEqual(['default/api IPv4=n1,eth0', 'default/web IPv4=n1,eth0']);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
    // it answered again: a new silence claims what it holds then
    t.controller.ownerAnswers('n2');
    t.controller.ownerUnreachable('n2');
    await settle();
    await t.controller.idle();
    expect(t.cluster.annotations).toContain('default/late IPv4=n1,eth0');
    await t.controller.stop();
  });

  test('a claim on a Service whose address changed since the decision is not written; nothing is added', async () => {
    const t = owned();
    await t.controller.start(60_000);
    t.cluster.svcs = t.cluster.svcs.map((svc) => ({
      ...svc,
      status: { loadBalancer: { ingress: [{ ip: '192.168.1.241' }] } },
    }));
    t.controller.ownerUnreachable('n2');
    await settle();
    expect(t.cluster.annotations).toEqual([]);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    await t.controller.stop();
  });

  test('a claim that meets a newer Service (409) adds nothing; a restarting owner is neither probed nor claimed from', async () => {
    const t = owned();
    t.cluster.conflict = true;
    await t.controller.start(60_000);
    t.controller.ownerUnreachable('n2');
    await new Promise((r) => setImmediate(r));
    await t.controller.idle();
    expect(t.cluster.preconditions.length).toBe(2);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    await t.controller.stop();

    const r = owned(true);
    await r.controller.start(60_000);
    expect(r.probe.watched).toEqual(new Map());
    r.controller.ownerUnreachable('n2');
    await new Promise((resolve) => setImmediate(resolve));
    await r.controller.idle();
    expect(r.cluster.annotations).toEqual([]);
    expect(r.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    await r.controller.stop();
  });
});

describe('local address lifetime renewal (fake ports)', () => {
  const renewals = (k: FakeKernel) => k.batches.filter((b) => b.every((l) => l.startsWith('address change ')));
  const renew240 = (lifetime: number) => [
    `address change 192.168.1.240/24 dev eth0 valid_lft ${lifetime} preferred_lft ${lifetime}`,
  ];
  /** Fake intervals; promises and the event queue's immediates still run. */
  const withFakeTimers = async (body: () => Promise<void>) => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      await body();
    } finally {
      jest.useRealTimers();
    }
  };

  test('every third of the lifetime one batch renews the held local addresses in place, and nothing else', () =>
    withFakeTimers(async () => {
      const t = setup({ localLifetimeS: 9 });
      t.cluster.svcs = [service('web', '192.168.1.240'), service('v', '10.9.0.1')];
      await t.controller.start(60_000);
      expect(t.kernel.batches[0]).toContain('address replace 192.168.1.240/24 dev eth0 valid_lft 9 preferred_lft 9');
      await jest.advanceTimersByTimeAsync(0); // the first renewal runs at start
      expect(renewals(t.kernel)).toEqual([renew240(9)]);
      await jest.advanceTimersByTimeAsync(2999);
      expect(renewals(t.kernel)).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(6001);
      // not the node's own address, not the virtual one: only what this agent holds on the LAN
      expect(renewals(t.kernel)).toEqual([renew240(9), renew240(9), renew240(9), renew240(9)]);
      expect(t.garps).toEqual(['eth0 192.168.1.240']); // renewals announce nothing
      expect(t.kernel.batches.filter((b) => !renewals(t.kernel).includes(b))).toHaveLength(1); // no reconcile ran
      await t.controller.stop();
    }));

  test('a fenced node renews nothing; a withdrawn address is never renewed; permanent addresses need nothing', () =>
    withFakeTimers(async () => {
      const t = setup({ localLifetimeS: 9 });
      t.cluster.svcs = [service('web', '192.168.1.240')];
      await t.controller.start(60_000);
      await jest.advanceTimersByTimeAsync(0);
      expect(renewals(t.kernel)).toHaveLength(1);
      // fenced: before its reconcile has withdrawn anything, the renewal already leaves the address to expire
      t.heartbeat.live = false;
      await jest.advanceTimersByTimeAsync(6000);
      expect(renewals(t.kernel)).toHaveLength(1);
      t.controller.liveChanged(false);
      await t.controller.idle();
      expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
      // live again: the address comes back, and with it the renewals
      t.heartbeat.live = true;
      t.controller.liveChanged(true);
      await t.controller.idle();
      await jest.advanceTimersByTimeAsync(3000);
      expect(renewals(t.kernel)).toEqual([renew240(9), renew240(9)]);
      // another node wins it (it held the address before, per the announcing annotation): withdrawn, not renewed
      t.cluster.leases = [peerLease('n0', LAN)];
      t.cluster.svcs = [service('web', '192.168.1.240', { 'purelb.io/announcing-IPv4': 'n0,eth0' })];
      t.cluster.fire('inputs');
      await t.controller.idle();
      expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
      await jest.advanceTimersByTimeAsync(9000);
      expect(renewals(t.kernel)).toHaveLength(2);
      await t.controller.stop();

      const permanent = setup({ localLifetimeS: 0 });
      permanent.cluster.svcs = [service('web', '192.168.1.240')];
      await permanent.controller.start(60_000);
      await jest.advanceTimersByTimeAsync(60_000);
      expect(renewals(permanent.kernel)).toEqual([]);
      await permanent.controller.stop();
    }));

  test('stop for a restart: the addresses last as long as the extended Lease, unless the extension failed', async () => {
    for (const extends_ of [true, false]) {
      const t = setup({ localLifetimeS: 9, restartGraceS: 30 });
      t.heartbeat.extendsForRestart = extends_;
      t.cluster.svcs = [service('web', '192.168.1.240')];
      await t.controller.start(60_000);
      await t.controller.stop();
      expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', '192.168.1.240/24']);
      expect(renewals(t.kernel).at(-1)).toEqual(extends_ ? renew240(30) : renew240(9));
    }
  });

  test('a renewal never runs beside a batch, and then renews only what that batch left held', async () => {
    const at = (ip: string): HeldAddress => ({ ifname: 'eth0', ip, prefix: 24, family: 4 });
    let held = [at('192.168.1.240'), at('192.168.1.241')];
    const written: string[][] = [];
    const failures: string[] = [];
    const net = new FakeKernel();
    net.refuse.set('192.168.1.240', 'Cannot find device "eth0"');
    const applyBatch = net.applyBatch.bind(net);
    net.applyBatch = (lines) => (written.push(lines), applyBatch(lines));
    const renewal = new LifetimeRenewal({
      lifetimeS: 9,
      net,
      held: () => held,
      live: () => true,
      log: createLogger('test', {}, (l) => failures.push(l)),
      onFailure: () => failures.push('failure'),
    });
    let finishBatch!: () => void;
    const batch = renewal.exclusive(async () => {
      await new Promise<void>((r) => (finishBatch = r));
      held = [at('192.168.1.240')]; // the batch withdrew .241
    });
    renewal.start(); // its first renewal waits for the batch
    await new Promise((r) => setImmediate(r));
    expect(written).toEqual([]);
    finishBatch();
    await batch;
    await renewal.stop();
    expect(written).toEqual([['address change 192.168.1.240/24 dev eth0 valid_lft 9 preferred_lft 9']]);
    // a refused line is counted and logged with the address
    expect(failures).toEqual(['failure', expect.stringContaining('"address":"192.168.1.240/24"')]);
  });

  test('renewals slower than a third of the lifetime raise the lifetime in use (logged), fast ones bring it back', () =>
    withFakeTimers(async () => {
      const logs: string[] = [];
      const lifetimes: string[] = [];
      let batchMs = 0;
      const net = new FakeKernel();
      const applyBatch = net.applyBatch.bind(net);
      net.applyBatch = async (lines) => {
        lifetimes.push(lines[0]!.replace(/.* valid_lft (\d+) .*/, '$1'));
        jest.setSystemTime(Date.now() + batchMs); // the kernel takes this long
        return applyBatch(lines);
      };
      const renewal = new LifetimeRenewal({
        lifetimeS: 9,
        net,
        held: () => [{ ifname: 'eth0', ip: '192.168.1.240', prefix: 24, family: 4 }],
        live: () => true,
        log: createLogger('test', {}, (l) => logs.push(l)),
        onFailure: () => {},
      });
      batchMs = 5000; // more than a third of 9 s: 15 s in use from now on, renewed every 5 s
      renewal.start();
      await jest.advanceTimersByTimeAsync(0);
      expect(renewal.lifetimeS).toBe(15);
      expect(logs).toEqual([expect.stringMatching(/"level":"warn".*"renewalMs":5000,"lifetimeSeconds":15/)]);
      batchMs = 100;
      await jest.advanceTimersByTimeAsync(4999);
      expect(lifetimes).toEqual(['9']);
      await jest.advanceTimersByTimeAsync(1);
      expect(lifetimes).toEqual(['9', '15']);
      expect(renewal.lifetimeS).toBe(9); // fast again
      expect(logs[1]).toMatch(/back to --local-address-lifetime/);
      await jest.advanceTimersByTimeAsync(3000);
      expect(lifetimes).toEqual(['9', '15', '9']);
      await renewal.stop();
    }));
});

describe('announcement node selectors (fake ports)', () => {
  const edge = (spec: Partial<NonNullable<ServiceGroup['spec']>>): ServiceGroup => ({
    metadata: { name: 'edge', namespace: 'purelb', uid: 'g1', generation: 1 },
    spec: {
      local: {
        v4pools: [
          { subnet: '10.9.0.0/24', pool: '10.9.0.0/24', aggregation: '/32' },
          { subnet: LAN, pool: '192.168.1.200-192.168.1.250' },
        ],
      },
      ...spec,
    },
  });
  const edgeService = (name: string, ip: string, extra: Record<string, string> = {}) =>
    service(name, ip, { 'purelb.io/allocated-from': 'edge', ...extra });
  const labelledLease = (node: string, labels: Record<string, string>) => {
    const l = peerLease(node, LAN);
    l.metadata!.annotations!['purelb.io/node-labels'] = JSON.stringify(labels);
    return l;
  };

  test('the heartbeat publishes only the label keys selectors read; a label change withdraws a virtual address with the reason', async () => {
    const t = setup();
    t.cluster.groups = [edge({ nodeSelectors: [{ matchLabels: { zone: 'b' } }] })];
    t.cluster.node = { metadata: { name: NODE, uid: 'uid-n1', labels: { zone: 'b', unrelated: 'x' } }, spec: {} };
    t.cluster.svcs = [edgeService('v', '10.9.0.1')];
    await t.controller.start(60_000);
    expect(t.heartbeat.labels).toEqual({ zone: 'b' });
    expect(t.kernel.addresses('kube-lb0')).toEqual(['10.9.0.1/32']);
    t.cluster.node = { ...t.cluster.node, metadata: { ...t.cluster.node.metadata, labels: { zone: 'a' } } };
    t.cluster.fire('node', t.cluster.node);
    await t.controller.idle();
    expect(t.heartbeat.labels).toEqual({ zone: 'a' });
    expect(t.kernel.addresses('kube-lb0')).toEqual([]);
    expect(t.virtual.at(-1)).toEqual([]);
    await new Promise((r) => setImmediate(r)); // events go through their own queue
    expect(t.cluster.emitted.filter((e) => e.includes(' Withdrawn: '))).toEqual([
      "Service/v Normal Withdrawn: node n1 withdrew 10.9.0.1/32 on kube-lb0 (node n1 is not selected by ServiceGroup edge's nodeSelectors {zone=b})",
    ]);
    // the group drops its selector: every node again, and nothing left to publish
    t.cluster.groups = [{ ...edge({}), metadata: { ...edge({}).metadata, generation: 2 } }];
    t.cluster.fire('inputs');
    await t.controller.idle();
    expect(t.heartbeat.labels).toEqual({});
    expect(t.kernel.addresses('kube-lb0')).toEqual(['10.9.0.1/32']);
    await t.controller.stop();
  });

  test("a local address stays with its current owner (the Service's annotation) even when this node would win the hash", async () => {
    const { electWinner } = await import('../../src/agent/election.ts');
    const ip = [...Array(50).keys()]
      .map((i) => `192.168.1.${200 + i}`)
      .find((a) => electWinner(a, ['n1', 'n2']) === 'n1')!;
    const t = setup();
    t.cluster.groups = [edge({})];
    t.cluster.leases = [peerLease('n2', LAN)];
    t.cluster.svcs = [edgeService('web', ip, { 'purelb.io/announcing-IPv4': 'n2,eth0' })];
    t.cluster.svcs[0]!.metadata!.resourceVersion = '17';
    await t.controller.start(60_000);
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    // the owner leaves: this node takes over and says so
    t.cluster.leases = [];
    t.cluster.fire('leases');
    await t.controller.idle();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', `${ip}/24`]);
    expect(t.cluster.annotations).toEqual([`default/web IPv4=n1,eth0`]);
    // conditional on the Service version it decided on: a newer owner record is never overwritten
    expect(t.cluster.preconditions).toEqual(['17']);
    await t.controller.stop();
  });

  test("a peer preferred by the group's preferredNodeSelectors (from its Lease labels) gets a new address", async () => {
    const { electWinner } = await import('../../src/agent/election.ts');
    const ip = [...Array(50).keys()]
      .map((i) => `192.168.1.${200 + i}`)
      .find((a) => electWinner(a, ['n1', 'n2']) === 'n1')!;
    const t = setup();
    t.cluster.groups = [edge({ preferredNodeSelectors: [{ matchLabels: { rack: 'r2' } }] })];
    t.cluster.node = { metadata: { name: NODE, uid: 'uid-n1', labels: { rack: 'r1' } }, spec: {} };
    t.cluster.leases = [labelledLease('n2', { rack: 'r2' })];
    t.cluster.svcs = [edgeService('web', ip)];
    await t.controller.start(60_000);
    expect(t.heartbeat.labels).toEqual({ rack: 'r1' });
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24']);
    // n2 stops being preferred; no annotation names it as the owner (its agent never took the address
    // in this fake), so the hash decides again and this node wins
    t.cluster.leases = [labelledLease('n2', { rack: 'r1' })];
    t.cluster.fire('leases');
    await t.controller.idle();
    expect(t.kernel.addresses('eth0')).toEqual(['192.168.1.11/24', `${ip}/24`]);
    await t.controller.stop();
  });
});

describe('routing rejected (fake ports)', () => {
  test('is no election rule: the node keeps its virtual address, and the agent writes no NoEligibleNode event (the allocator does)', async () => {
    const t = setup();
    t.cluster.groups = [
      {
        metadata: { name: 'default', namespace: 'purelb', uid: 'g1', generation: 1 },
        spec: { local: { v4pools: [{ subnet: '10.9.0.0/24', pool: '10.9.0.0/24', aggregation: '/32' }] } },
      },
    ];
    t.heartbeat.setRoutingRejected('RouterConfig purelb/default: Rejected');
    t.cluster.svcs = [service('web', '10.9.0.1')];
    await t.controller.start(60_000);
    await t.reconcile();
    await new Promise((r) => setImmediate(r)); // events go through their own queue
    // its daemon keeps the previous config, which may still advertise kube-lb0
    expect(t.kernel.addresses('kube-lb0')).toEqual(['10.9.0.1/32']);
    expect(t.cluster.emitted).toEqual([
      'Service/web Normal AnnouncingNonLocal: node n1 announces 10.9.0.1/32 on kube-lb0',
    ]);
    await t.controller.stop();
  });
});
