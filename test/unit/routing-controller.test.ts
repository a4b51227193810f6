// The routing controller's decisions, driven through in-memory ports (cluster, daemon, timers) so every
// case runs in milliseconds and retry delays are read, not waited for. The real apiserver and real
// daemons are exercised by test/integration/routing-*.test.ts.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Daemon, RouterConfig } from '../../src/api/validate-routerconfig.ts';
import type { EventRecorder, EventType } from '../../src/k8s/events.ts';
import { createLogger } from '../../src/log.ts';
import type { ApplyResult, DaemonStatus, RouteAdvertiser } from '../../src/routing/advertiser.ts';
import type { AddressServices } from '../../src/routing/attributes.ts';
import type { Cancel, ConfigChange, RoutingClusterPort, Timers } from '../../src/routing/ports.ts';
import { RoutingReconciler } from '../../src/routing/reconciler.ts';
import type { NodeRoutingInput } from '../../src/routing/render.ts';
import { nextLastReload, type NodeRoutingStatus } from '../../src/routing/status.ts';

const NS = 'purelb';
const NODE = 'node-a';
const TOR = '192.168.11.1';
const silent = createLogger('test', {}, () => undefined);

interface Gate {
  promise: Promise<void>;
  open(): void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

class FakeEvents implements EventRecorder {
  readonly sent: Array<{ object: string; type: EventType; reason: string; note: string }> = [];
  readonly resets: Array<{ object: string; reasons?: string[] }> = [];
  emit(obj: KubernetesObject, type: EventType, reason: string, note: string): boolean {
    this.sent.push({ object: obj.metadata!.name!, type, reason, note });
    return true;
  }
  reset(obj: KubernetesObject, reasons?: string[]): void {
    this.resets.push({ object: obj.metadata!.name!, ...(reasons ? { reasons } : {}) });
  }
  async flush(): Promise<void> {}
}

class FakeCluster implements RoutingClusterPort {
  synced = Promise.resolve();
  readonly events = new FakeEvents();
  configs: RouterConfig[] = [];
  labels: Record<string, string> = {};
  labelsError: Error | undefined;
  secrets = new Map<string, Record<string, string>>();
  uid = 'uid-1';
  /** every write of this node's NodeRoutingStatus (name: its routerConfig), and every delete (entry null) */
  readonly patches: Array<{ name: string; entry: NodeRoutingStatus | null; nodeUID?: string }> = [];
  /** while set, status writes wait for it to open */
  patchGate: Gate | undefined;
  patchError: Error | undefined;
  stopped = false;
  readonly #handlers: Array<(obj: RouterConfig | undefined, kind: ConfigChange) => void> = [];
  readonly trace: string[];
  constructor(trace: string[]) {
    this.trace = trace;
  }

  listRouterConfigs() {
    return this.configs;
  }
  onRouterConfigChange(handler: (obj: RouterConfig | undefined, kind: ConfigChange) => void) {
    this.#handlers.push(handler);
  }
  /** Replaces (or adds) a RouterConfig and tells the controller, as the watch would. */
  put(obj: RouterConfig): void {
    const i = this.configs.findIndex((c) => c.metadata?.name === obj.metadata?.name);
    if (i >= 0) this.configs[i] = obj;
    else this.configs.push(obj);
    for (const h of this.#handlers) h(obj, i >= 0 ? 'update' : 'add');
  }
  async readNode() {
    if (this.labelsError) throw this.labelsError;
    return { labels: { ...this.labels }, uid: this.uid };
  }
  async readSecretKey(name: string, key: string) {
    const secret = this.secrets.get(name);
    if (!secret) throw new Error(`secrets "${name}" not found`);
    return secret[key];
  }
  async writeNodeStatus(entry: NodeRoutingStatus, nodeUID: string | undefined) {
    const name = entry.routerConfig;
    this.trace.push(`patch ${name}:start`);
    await this.patchGate?.promise;
    if (this.patchError) throw this.patchError;
    this.patches.push({ name, entry, ...(nodeUID ? { nodeUID } : {}) });
    this.trace.push(`patch ${name}:end`);
  }
  async deleteNodeStatus() {
    if (this.patchError) throw this.patchError;
    this.patches.push({ name: '(deleted)', entry: null });
  }
  async stop() {
    this.stopped = true;
  }
  lastEntry(name: string): NodeRoutingStatus | null | undefined {
    return this.patches.filter((p) => p.name === name).at(-1)?.entry;
  }
}

class FakeDaemon implements RouteAdvertiser {
  /** outcomes of the next apply calls, in order; afterwards Unchanged with the last hash */
  readonly results: Array<ApplyResult | Error> = [];
  readonly inputs: NodeRoutingInput[] = [];
  readonly addresses: string[][] = [];
  addressError: Error | undefined;
  applyGate: Gate | undefined;
  status_: DaemonStatus | Error = { sessions: [{ name: TOR, state: 'Established' }], advertised: [] };
  closed = false;
  #hash: string | undefined;
  readonly daemon: Daemon;
  readonly trace: string[];
  constructor(daemon: Daemon, trace: string[]) {
    this.daemon = daemon;
    this.trace = trace;
  }

  async apply(input: NodeRoutingInput): Promise<ApplyResult> {
    this.trace.push(`apply ${this.daemon}:start`);
    this.inputs.push(input);
    await this.applyGate?.promise;
    this.trace.push(`apply ${this.daemon}:end`);
    const next = this.results.shift() ?? { result: 'Unchanged', ...(this.#hash ? { hash: this.#hash } : {}) };
    if (next instanceof Error) throw next;
    if (next.result === 'Applied') this.#hash = next.hash;
    return next;
  }
  readonly services: AddressServices[] = [];
  async setAddresses(cidrs: string[], services: AddressServices = {}): Promise<void> {
    if (this.addressError) throw this.addressError;
    this.addresses.push(cidrs);
    this.services.push(services);
  }
  async status(): Promise<DaemonStatus> {
    if (this.status_ instanceof Error) throw this.status_;
    return this.status_;
  }
  async close(): Promise<void> {
    this.trace.push(`close ${this.daemon}`);
    this.closed = true;
  }
}

type Timer = { ms: number; fn: () => void };
function schedule(list: Timer[], ms: number, fn: () => void): Cancel {
  const t = { ms, fn };
  list.push(t);
  return () => {
    const i = list.indexOf(t);
    if (i >= 0) list.splice(i, 1);
  };
}

/** Timers that run only when the test says so. */
class FakeTimers implements Timers {
  readonly once: Timer[] = [];
  readonly repeating: Timer[] = [];
  after(ms: number, fn: () => void): Cancel {
    return schedule(this.once, ms, fn);
  }
  every(ms: number, fn: () => void): Cancel {
    return schedule(this.repeating, ms, fn);
  }
  /** Delays of the pending one-shot timers (the retries). */
  delays(): number[] {
    return this.once.map((t) => t.ms);
  }
  /** Runs the pending one-shot timers. */
  fire(): void {
    for (const t of this.once.splice(0)) t.fn();
  }
}

const peer = { address: TOR, asn: 65000 };
function routerConfig(name: string, spec: Record<string, unknown> = {}, generation = 1): RouterConfig {
  return {
    apiVersion: 'purelb.io/v1',
    kind: 'RouterConfig',
    metadata: { name, namespace: NS, generation },
    spec: { daemon: 'bird', protocol: 'bgp', bgp: { localASN: 65001, peers: [peer] }, ...spec },
  };
}
const applied = (n: number): ApplyResult => ({ result: 'Applied', hash: `sha256:${n}` });

function setup(configs: RouterConfig[] = [routerConfig('rc')]) {
  const trace: string[] = [];
  const cluster = new FakeCluster(trace);
  cluster.configs = configs;
  const timers = new FakeTimers();
  const daemons: FakeDaemon[] = [];
  const pending: Array<ApplyResult | Error> = [];
  /** what the agent would publish on the heartbeat Lease (purelb.io/routing-rejected), after each outcome */
  const routingRejected: (string | undefined)[] = [];
  const controller = new RoutingReconciler({
    cluster,
    openDaemon: (kind) => {
      const d = new FakeDaemon(kind, trace);
      d.results.push(...pending.splice(0));
      daemons.push(d);
      return d;
    },
    namespace: NS,
    nodeName: NODE,
    nodeIP: '192.168.11.2',
    log: silent,
    timers,
    onRoutingRejected: (reason) => routingRejected.push(reason),
  });
  /** the daemon opened last */
  const daemon = () => daemons.at(-1)!;
  /** outcomes for the next applies (queued for a daemon not opened yet) */
  const willApply = (...results: Array<ApplyResult | Error>) =>
    daemons.length ? daemon().results.push(...results) : pending.push(...results);
  return { cluster, timers, daemons, daemon, controller, trace, willApply, routingRejected };
}

describe('reconcile', () => {
  test('applies the selected RouterConfig and writes its status; an unchanged state writes nothing', async () => {
    const { cluster, daemon, controller, willApply } = setup();
    willApply(applied(1));
    await controller.start();
    expect(daemon().inputs).toEqual([
      expect.objectContaining({ nodeName: NODE, nodeIP: '192.168.11.2', kubeInterface: 'kube-lb0', passwords: {} }),
    ]);
    expect(cluster.patches).toHaveLength(1);
    expect(cluster.lastEntry('rc')).toMatchObject({
      daemon: 'bird',
      protocol: 'bgp',
      observedGeneration: 1,
      configHash: 'sha256:1',
      lastReload: { result: 'Applied' },
      sessions: [{ name: TOR, state: 'Established' }],
    });
    await controller.trigger(); // resync: the daemon answers Unchanged
    await controller.refreshStatus(); // the daemon reports the same sessions
    expect(daemon().inputs).toHaveLength(2);
    expect(cluster.patches).toHaveLength(1);
    daemon().status_ = { sessions: [{ name: TOR, state: 'Active' }], advertised: [] };
    await controller.refreshStatus();
    expect(cluster.patches).toHaveLength(2);
    expect(cluster.lastEntry('rc')?.sessions).toEqual([{ name: TOR, state: 'Active' }]);
    await controller.stop();
  });

  test('a metadata-only update of the RouterConfig (same generation) does not reconcile; a spec change does', async () => {
    const { cluster, daemon, controller, willApply } = setup();
    await controller.start();
    cluster.put(routerConfig('rc', {}, 1)); // the watch's first sight of it
    await controller.idle();
    expect(daemon().inputs).toHaveLength(2);
    cluster.put(routerConfig('rc', {}, 1)); // a metadata-only update (an annotation)
    await controller.idle();
    expect(daemon().inputs).toHaveLength(2);
    willApply(applied(2));
    cluster.put(routerConfig('rc', { bgp: { localASN: 65002, peers: [peer] } }, 2));
    await controller.idle();
    expect(daemon().inputs).toHaveLength(3);
    expect(daemon().inputs.at(-1)?.config.bgp?.localASN).toBe(65002);
    expect(cluster.lastEntry('rc')).toMatchObject({ observedGeneration: 2, configHash: 'sha256:2' });
    await controller.stop();
  });

  test('the most specific RouterConfig wins; another one selecting the node rewrites its one status object, none deletes it', async () => {
    const { cluster, controller, daemon } = setup([
      routerConfig('all-nodes'),
      routerConfig('rack-r1', { nodeSelector: { 'purelb.io/rack': 'r1' } }),
    ]);
    cluster.labels = { 'purelb.io/rack': 'r1' };
    await controller.start();
    expect(cluster.patches.map((p) => p.name)).toEqual(['rack-r1']);
    cluster.labels = {};
    await controller.trigger();
    // one write per change: the same object now names the other RouterConfig
    expect(cluster.patches.map((p) => p.name)).toEqual(['rack-r1', 'all-nodes']);
    cluster.configs = [];
    await controller.trigger();
    await controller.trigger();
    expect(cluster.patches.slice(2)).toEqual([{ name: '(deleted)', entry: null }]); // deleted once
    expect(daemon().closed).toBe(false); // the daemon keeps its last config
    await controller.stop();
  });

  test('the status object is owned by the Node; a Node created again with a new uid gets it written again', async () => {
    const { cluster, controller } = setup();
    await controller.start();
    expect(cluster.patches.map((p) => p.nodeUID)).toEqual(['uid-1']);
    await controller.trigger();
    expect(cluster.patches).toHaveLength(1);
    cluster.uid = 'uid-2'; // the garbage collector deleted the object with the old Node
    await controller.trigger();
    expect(cluster.patches.map((p) => p.nodeUID)).toEqual(['uid-1', 'uid-2']);
    await controller.stop();
  });

  test('with no RouterConfig selecting the node, a status object left by a previous run is deleted once', async () => {
    const { cluster, controller } = setup([]);
    await controller.start();
    await controller.trigger();
    expect(cluster.patches).toEqual([{ name: '(deleted)', entry: null }]);
    await controller.stop();
  });

  test('a change of daemon closes the old backend and hands the new one the addresses before applying', async () => {
    const { cluster, controller, daemons, trace } = setup();
    await controller.start();
    controller.setVirtualAddresses(['10.96.0.1/32']);
    trace.length = 0;
    cluster.put(routerConfig('rc', { daemon: 'gobgp' }, 2));
    await controller.idle();
    expect(daemons.map((d) => [d.daemon, d.closed])).toEqual([
      ['bird', true],
      ['gobgp', false],
    ]);
    expect(daemons[1]!.addresses).toEqual([['10.96.0.1/32']]);
    expect(trace.slice(0, 2)).toEqual(['close bird', 'apply gobgp:start']);
    await controller.stop();
  });

  test('a renamed extlbint re-renders for the new interface; addresses go to the daemon', async () => {
    const { controller, daemon } = setup();
    await controller.start();
    controller.setVirtualAddresses(['10.96.0.1/32', 'fd00:96::1/128'], 'kube-lb9');
    await controller.idle();
    expect(daemon().inputs.at(-1)?.kubeInterface).toBe('kube-lb9');
    expect(daemon().addresses.at(-1)).toEqual(['10.96.0.1/32', 'fd00:96::1/128']);
    await controller.stop();
  });

  test('a Service that moves to another advertisement re-renders with the Services; other label changes do not', async () => {
    const advertisements = [{ name: 'gold', serviceSelector: { matchLabels: { tier: 'gold' } }, communities: ['1:1'] }];
    const { controller, daemon } = setup([
      routerConfig('rc', { bgp: { localASN: 65001, peers: [peer], advertisements } }),
    ]);
    await controller.start();
    const services = (labels: Record<string, string>) => ({
      '10.96.0.1/32': [{ key: 'ns/a', labels, groups: ['default'] }],
    });
    controller.setVirtualAddresses(['10.96.0.1/32'], undefined, services({ tier: 'gold' }));
    await controller.idle();
    const applies = daemon().inputs.length;
    expect(daemon().inputs.at(-1)?.services).toEqual(services({ tier: 'gold' }));
    controller.setVirtualAddresses(['10.96.0.1/32'], undefined, services({ tier: 'gold', team: 'x' }));
    await controller.idle();
    expect(daemon().inputs.length).toBe(applies); // still gold: nothing to render
    controller.setVirtualAddresses(['10.96.0.1/32'], undefined, services({ tier: 'bronze' }));
    await controller.idle();
    expect(daemon().inputs.length).toBe(applies + 1);
    expect(daemon().inputs.at(-1)?.services).toEqual(services({ tier: 'bronze' }));
    expect(daemon().services.at(-1)).toEqual(services({ tier: 'bronze' })); // GoBGP gets them with the addresses
    await controller.stop();
  });

  test('a daemon that does not answer is reported as such, never with its last sessions', async () => {
    const { cluster, controller, daemon } = setup();
    await controller.start();
    daemon().status_ = new Error('connect ENOENT /run/purelb/bird/bird.ctl');
    await controller.refreshStatus();
    expect(cluster.lastEntry('rc')).toMatchObject({
      daemonError: 'bird did not answer: connect ENOENT /run/purelb/bird/bird.ctl',
      sessions: [],
      advertised: [],
    });
    await controller.stop();
  });
});

describe('a config that cannot be applied keeps the running one', () => {
  test('an invalid RouterConfig is Rejected without calling the daemon: status, one Warning event, no retry', async () => {
    const { cluster, controller, daemon, timers, willApply } = setup();
    willApply(applied(1));
    await controller.start();
    cluster.put(routerConfig('rc', { bgp: { localASN: 65001, peers: [peer, { ...peer, asn: 65009 }] } }, 2));
    await controller.idle();
    expect(daemon().inputs).toHaveLength(1);
    const entry = cluster.lastEntry('rc')!;
    expect(entry).toMatchObject({ configHash: 'sha256:1', observedGeneration: 2, lastReload: { result: 'Rejected' } });
    expect(entry.lastReload?.error).toContain('spec.bgp.peers[1].address');
    expect(cluster.events.sent).toEqual([
      {
        object: 'rc',
        type: 'Warning',
        reason: 'RoutingConfigRejected',
        note: expect.stringMatching(
          /^node node-a: RouterConfig purelb\/rc: spec\.bgp\.peers\[1\]\.address: .*; the previous routing config keeps running$/,
        ),
      },
    ]);
    expect(timers.delays()).toEqual([]); // only an edit can fix it
    await controller.stop();
  });

  test('a config the daemon refuses keeps the running hash; reverting the edit reports Unchanged again', async () => {
    const { cluster, controller, willApply, routingRejected } = setup();
    willApply(applied(1), { result: 'Rejected', error: 'bird: syntax error', hash: 'sha256:1' });
    await controller.start();
    cluster.put(routerConfig('rc', {}, 2));
    await controller.idle();
    expect(cluster.lastEntry('rc')).toMatchObject({
      configHash: 'sha256:1',
      lastReload: { result: 'Rejected', error: 'bird: syntax error' },
    });
    expect(routingRejected).toEqual([undefined, `RouterConfig ${NS}/rc: Rejected`]);
    cluster.put(routerConfig('rc', {}, 3));
    await controller.idle();
    expect(cluster.lastEntry('rc')?.lastReload).toEqual({ result: 'Unchanged', time: expect.any(String) });
    // the running config is the one asked for again: the heartbeat mark goes
    expect(routingRejected.at(-1)).toBeUndefined();
    await controller.stop();
  });
});

describe('retries', () => {
  test('a failed reload is retried with doubling delays until it applies; then the backoff starts over', async () => {
    const { cluster, controller, daemon, timers, willApply } = setup();
    const failed: ApplyResult = { result: 'Failed', error: 'bird: configure timed out' };
    willApply(failed, failed, failed, applied(1));
    await controller.start();
    expect(timers.delays()).toEqual([1000]);
    expect(cluster.lastEntry('rc')?.lastReload).toMatchObject({ result: 'Failed', error: 'bird: configure timed out' });
    const seen: number[][] = [];
    for (let i = 0; i < 3; i++) {
      timers.fire();
      await controller.idle();
      seen.push(timers.delays());
    }
    expect(seen).toEqual([[2000], [4000], []]);
    expect(daemon().inputs).toHaveLength(4);
    expect(cluster.lastEntry('rc')).toMatchObject({ configHash: 'sha256:1', lastReload: { result: 'Applied' } });
    expect(cluster.events.sent.map((e) => e.reason)).toEqual([
      'RoutingReloadFailed',
      'RoutingReloadFailed',
      'RoutingReloadFailed',
    ]);
    expect(cluster.events.resets).toEqual([
      { object: 'rc', reasons: ['RoutingConfigRejected', 'RoutingReloadFailed'] },
    ]);
    willApply(failed);
    cluster.put(routerConfig('rc', {}, 2));
    await controller.idle();
    expect(timers.delays()).toEqual([1000]);
    await controller.stop();
    expect(timers.delays()).toEqual([]); // stop cancels the retry
  });

  test('a missing password key fails with an error naming the Secret; the retry picks up the fixed Secret', async () => {
    const ref = { name: 'tor-md5', key: 'password' };
    const { cluster, controller, daemon, timers, willApply } = setup([
      routerConfig('rc', { bgp: { localASN: 65001, peers: [{ ...peer, passwordSecretRef: ref }] } }),
    ]);
    cluster.secrets.set('tor-md5', { other: 'x' });
    await controller.start();
    expect(cluster.lastEntry('rc')?.lastReload?.error).toBe(
      `Secret purelb/tor-md5 has no key "password" (peer ${TOR}); add it or set passwordSecretRef.key`,
    );
    expect(timers.delays()).toEqual([1000]);
    cluster.secrets.set('tor-md5', { password: 's3cret' });
    willApply(applied(1));
    timers.fire();
    await controller.idle();
    expect(daemon().inputs.at(-1)?.passwords).toEqual({ [TOR]: 's3cret' });
    expect(timers.delays()).toEqual([]);
    await controller.stop();
  });

  test('an apply that throws is a Failed reload and keeps the hash of the running config', async () => {
    const { cluster, controller, timers, willApply } = setup();
    willApply(applied(1));
    await controller.start();
    willApply(new Error('frr-reload.py: exit 1'));
    cluster.put(routerConfig('rc', {}, 2));
    await controller.idle();
    expect(cluster.lastEntry('rc')).toMatchObject({
      configHash: 'sha256:1',
      lastReload: { result: 'Failed', error: 'frr-reload.py: exit 1' },
    });
    expect(timers.delays()).toEqual([1000]);
    await controller.stop();
  });

  test('an unreadable Node keeps the last known labels and is read again with backoff', async () => {
    const { cluster, controller, timers } = setup([routerConfig('rack', { nodeSelector: { rack: 'r1' } })]);
    cluster.labels = { rack: 'r1' };
    await controller.start();
    cluster.labelsError = new Error('nodes "node-a" is forbidden');
    await controller.trigger();
    await controller.trigger();
    expect(cluster.patches.map((p) => [p.name, p.entry === null])).toEqual([['rack', false]]);
    expect(timers.delays()).toEqual([2000]); // two failed reads in a row, one pending retry
    cluster.labelsError = undefined;
    timers.fire();
    await controller.idle();
    expect(timers.delays()).toEqual([]);
    await controller.stop();
  });

  test('a failed hand-over of addresses is retried with the latest addresses', async () => {
    const { controller, daemon, timers } = setup();
    await controller.start();
    daemon().addressError = new Error('gobgpd unavailable');
    controller.setVirtualAddresses(['10.96.0.1/32']);
    controller.setVirtualAddresses(['10.96.0.1/32', '10.96.0.2/32']);
    await controller.trigger();
    expect(timers.delays()).toEqual([2000]);
    daemon().addressError = undefined;
    timers.fire();
    await controller.trigger();
    expect(daemon().addresses).toEqual([['10.96.0.1/32', '10.96.0.2/32']]);
    expect(timers.delays()).toEqual([]);
    await controller.stop();
  });
});

describe('stop', () => {
  test('stop during a status write lets it finish, then closes the daemon; nothing runs afterwards', async () => {
    const { cluster, controller, daemon, timers, trace, willApply } = setup();
    await controller.start();
    cluster.patchGate = gate();
    willApply(applied(2));
    trace.length = 0;
    cluster.put(routerConfig('rc', {}, 2));
    const run = controller.idle();
    while (!trace.includes('patch rc:start')) await new Promise((r) => setImmediate(r));
    const stopped = controller.stop();
    cluster.patchGate.open();
    await Promise.all([run, stopped]);
    expect(trace).toEqual(['apply bird:start', 'apply bird:end', 'patch rc:start', 'patch rc:end', 'close bird']);
    expect(cluster.stopped).toBe(true);
    expect(timers.repeating).toEqual([]);
    const applies = daemon().inputs.length;
    const patches = cluster.patches.length;
    controller.setVirtualAddresses(['10.96.0.1/32'], 'kube-lb9');
    await controller.trigger();
    await controller.refreshStatus();
    expect([daemon().inputs.length, cluster.patches.length, daemon().addresses]).toEqual([applies, patches, []]);
  });

  test('stop during an apply waits for it and its status write before closing the daemon', async () => {
    const { cluster, controller, daemon, trace, willApply } = setup();
    await controller.start();
    daemon().applyGate = gate();
    willApply(applied(2));
    trace.length = 0;
    cluster.put(routerConfig('rc', {}, 2));
    const run = controller.idle();
    while (!trace.includes('apply bird:start')) await new Promise((r) => setImmediate(r));
    const stopped = controller.stop();
    daemon().applyGate!.open();
    await Promise.all([run, stopped]);
    expect(trace).toEqual(['apply bird:start', 'apply bird:end', 'patch rc:start', 'patch rc:end', 'close bird']);
  });
});

test('stop before the first list arrived: nothing is applied and no timer is left', async () => {
  const { cluster, controller, daemons, timers } = setup();
  const listed = gate();
  cluster.synced = listed.promise;
  const started = controller.start();
  await controller.stop();
  listed.open();
  await started;
  expect([daemons.length, cluster.patches.length, timers.repeating.length, timers.once.length]).toEqual([0, 0, 0, 0]);
});

describe('nextLastReload', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T00:01:00Z');
  test('a repeated outcome keeps its first time; a new one gets a new time', () => {
    const first = nextLastReload(undefined, { result: 'Failed', error: 'x' }, t0);
    expect(nextLastReload(first, { result: 'Failed', error: 'x' }, t1)).toBe(first);
    expect(nextLastReload(first, { result: 'Failed', error: 'y' }, t1)).toEqual({
      time: t1.toISOString(),
      result: 'Failed',
      error: 'y',
    });
  });
  test('Unchanged keeps an Applied but replaces a Rejected or Failed', () => {
    const ok = nextLastReload(undefined, { result: 'Applied', hash: 'h' }, t0);
    expect(nextLastReload(ok, { result: 'Unchanged', hash: 'h' }, t1)).toBe(ok);
    const bad = nextLastReload(ok, { result: 'Rejected', error: 'e' }, t1);
    expect(nextLastReload(bad, { result: 'Unchanged', hash: 'h' }, t1)).toEqual({
      time: t1.toISOString(),
      result: 'Unchanged',
    });
    expect(nextLastReload(undefined, { result: 'Unchanged' }, t0)).toEqual({
      time: t0.toISOString(),
      result: 'Unchanged',
    });
  });
  test('the error is cut to 4000 characters', () => {
    expect(nextLastReload(undefined, { result: 'Failed', error: 'e'.repeat(5000) }, t0)?.error).toHaveLength(4000);
  });
});
