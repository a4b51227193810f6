// A LAN of network namespaces for node agent tests and benchmarks: one bridge namespace (which also
// observes the LAN: it learns from gratuitous ARP and unsolicited NA) and N node namespaces, each with
// eth0 on the bridge, a default route, and agents running as real child processes inside.
// The agents reach the apiserver (loopback of the root namespace) without any change to the host
// network: a relay inside each node namespace listens on 127.0.0.1:<apiserver port> and forwards to a
// unix socket (unix sockets are not network-namespaced), which the test process forwards to the
// apiserver. Stopping a node's relay with SIGSTOP cuts that node off like a network partition would.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { adminKubeConfig, applyCRDs, freshNamespace, mergePatch } from '../harness/kube.ts';
import { ANN, BRAND } from '../../src/api/annotations.ts';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { parseIpAddrJson, type KernelAddress } from '../../src/agent/interfaces.ts';
import { waitFor } from '../harness/kube.ts';

export interface LanNode {
  name: string;
  netns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
  stateFile: string;
  logFile: string;
  relay?: ChildProcess;
  agent?: ChildProcess;
}

export interface Lan {
  prefix: string;
  lanNetns: string;
  nodes: LanNode[];
  dir: string;
  /**
   * Starts the agent in the node's namespace (`env` adds to the inherited environment). `readOnlyProcSys`
   * runs it as a container runtime does for an unprivileged container: /proc/sys bind-mounted read-only
   * in a mount namespace of its own.
   * `entry` is the purelb.js to run: the checkout's by default, the images' compiled tree for
   * test/harness/shipped.ts; `nodeArgs` go on node's command line before it.
   */
  startAgent(
    node: LanNode,
    args: string[],
    opts?: { readOnlyProcSys?: boolean; env?: NodeJS.ProcessEnv; entry?: string; nodeArgs?: string[] },
  ): Promise<ChildProcess>;
  /** Sends a signal to the agent and waits for it to exit (ms it took). */
  stopAgent(node: LanNode, signal: NodeJS.Signals): Promise<number>;
  addresses(node: LanNode, ifname?: string): KernelAddress[];
  /** MAC the bridge namespace has for the address (learnt from GARP/NA), if any. */
  neighbour(ip: string): string | undefined;
  cutOff(node: LanNode): void;
  reconnect(node: LanNode): void;
  destroy(): Promise<void>;
}

export const LAN_V4 = '192.168.77';
export const LAN_V6 = 'fd00:77::';

// 10,000 addresses of `ip -json addr show` are more than execFileSync's default 1 MiB of output
const sh = (args: string[]) =>
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 }).toString();
const ipn = (ns: string, ...args: string[]) => sh(['ip', '-n', ns, ...args]);
export const sysctl = (ns: string, ...settings: string[]) =>
  sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', ...settings]);

async function waitForLine(child: ChildProcess, text: string, timeoutMs = 10_000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`relay did not print "${text}"`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
  });
}

/**
 * Creates the LAN. `apiPort` is the apiserver's port on 127.0.0.1 of the root namespace. Nodes are
 * named node-1, node-2, ...; with `uniqueNames` `<prefix>-node-1`, ..., for tests that create Node
 * objects (cluster-scoped, shared by every test of the run).
 */
export async function createLan(
  nodeCount: number,
  apiPort: number,
  opts: { uniqueNames?: boolean } = {},
): Promise<Lan> {
  const prefix = `plb${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const lanNetns = `${prefix}-lan`;
  const nodes: LanNode[] = [];
  const created: string[] = [];
  const socketPath = join(dir, 'api.sock');
  const bridge: Server = createServer((c) => {
    const upstream = createConnection(apiPort, '127.0.0.1');
    c.pipe(upstream).pipe(c);
    c.on('error', () => upstream.destroy());
    upstream.on('error', () => c.destroy());
  });
  const destroyNamespaces = () => {
    for (const ns of created.reverse()) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
  };
  try {
    await new Promise<void>((resolve) => bridge.listen(socketPath, resolve));
    sh(['ip', 'netns', 'add', lanNetns]);
    created.push(lanNetns);
    ipn(lanNetns, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0');
    ipn(lanNetns, 'addr', 'add', `${LAN_V4}.254/24`, 'dev', 'br0');
    ipn(lanNetns, 'addr', 'add', `${LAN_V6}fe/64`, 'dev', 'br0', 'nodad');
    // the observer learns addresses from gratuitous ARP / unsolicited NA (both ignored by default)
    sysctl(
      lanNetns,
      'net.ipv4.conf.br0.arp_accept=1',
      'net.ipv4.neigh.br0.locktime=0',
      'net.ipv6.conf.all.forwarding=1',
      'net.ipv6.conf.br0.accept_untracked_na=1',
    );
    ipn(lanNetns, 'link', 'set', 'br0', 'up');
    for (let i = 1; i <= nodeCount; i++) {
      const netns = `${prefix}-n${i}`;
      sh(['ip', 'netns', 'add', netns]);
      created.push(netns);
      ipn(lanNetns, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      ipn(lanNetns, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
      const ipv4 = `${LAN_V4}.${10 + i}`;
      const ipv6 = `${LAN_V6}${10 + i}`;
      ipn(netns, 'link', 'set', 'lo', 'up');
      ipn(netns, 'addr', 'add', `${ipv4}/24`, 'dev', 'eth0');
      ipn(netns, 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad');
      ipn(netns, 'link', 'set', 'eth0', 'up');
      ipn(netns, 'route', 'add', 'default', 'via', `${LAN_V4}.254`);
      ipn(netns, '-6', 'route', 'add', 'default', 'via', `${LAN_V6}fe`);
      const mac = (JSON.parse(ipn(netns, '-json', 'link', 'show', 'eth0')) as Array<{ address: string }>)[0]!.address;
      const node: LanNode = {
        name: opts.uniqueNames ? `${prefix}-node-${i}` : `node-${i}`,
        netns,
        ipv4,
        ipv6,
        mac,
        stateFile: join(dir, `node-${i}.state.json`),
        logFile: join(dir, `node-${i}.log`),
      };
      node.relay = spawn(
        'ip',
        [
          'netns',
          'exec',
          netns,
          process.execPath,
          join(repoRoot, 'test', 'integration', 'agent-relay.ts'),
          String(apiPort),
          socketPath,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await waitForLine(node.relay, 'ready');
      nodes.push(node);
    }
  } catch (err) {
    for (const n of nodes) n.relay?.kill('SIGKILL');
    destroyNamespaces();
    bridge.close();
    throw err;
  }

  const lan: Lan = {
    prefix,
    lanNetns,
    nodes,
    dir,
    async startAgent(node, args, opts = {}) {
      const log = openSync(node.logFile, 'a');
      const agent = [
        process.execPath,
        ...(opts.nodeArgs ?? []),
        opts.entry ?? join(repoRoot, 'bin', 'purelb.js'),
        'agent',
        '--node-name',
        node.name,
        '--node-ip',
        node.ipv4,
        '--kube-lb-kind',
        'ifb',
        '--state-file',
        node.stateFile,
        '--health-port',
        '7473',
        ...args,
      ];
      // every step execs the next, so the child's pid is the agent's and signals reach it
      const readOnly = [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"',
        'sh',
      ];
      const child = spawn('ip', ['netns', 'exec', node.netns, ...(opts.readOnlyProcSys ? readOnly : []), ...agent], {
        stdio: ['ignore', log, log],
        ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
      });
      node.agent = child;
      return child;
    },
    async stopAgent(node, signal) {
      const child = node.agent;
      if (!child || child.exitCode !== null || child.signalCode !== null) return 0;
      const started = Date.now();
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
      return Date.now() - started;
    },
    addresses(node, ifname) {
      return parseIpAddrJson(ipn(node.netns, '-json', 'addr', 'show', ...(ifname ? ['dev', ifname] : []))).flatMap(
        (l) => l.addrs,
      );
    },
    neighbour(ip) {
      const entries = JSON.parse(ipn(lanNetns, '-json', 'neigh', 'show', 'to', ip)) as Array<{ lladdr?: string }>;
      return entries[0]?.lladdr;
    },
    cutOff(node) {
      node.relay?.kill('SIGSTOP');
    },
    reconnect(node) {
      node.relay?.kill('SIGCONT');
    },
    async destroy() {
      for (const n of nodes) {
        n.relay?.kill('SIGCONT');
        n.relay?.kill('SIGKILL');
        await lan.stopAgent(n, 'SIGKILL');
      }
      destroyNamespaces();
      await new Promise<void>((resolve) => bridge.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return lan;
}

/** The last lines of an agent's log, for failure messages. */
export function agentLogTail(node: LanNode, lines = 30): string {
  try {
    return readFileSync(node.logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Creates a LoadBalancer Service as the allocator would leave it: branded, allocated-from, ingress. */
export async function createBrandedService(
  core: CoreV1Api,
  namespace: string,
  name: string,
  ips: string[],
  opts: { etpLocal?: boolean; group?: string } = {},
): Promise<void> {
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name, annotations: { [ANN.allocatedBy]: BRAND, [ANN.allocatedFrom]: opts.group ?? 'default' } },
      spec: {
        // no node ports: the agent does not need them, and 10,000 Services would exhaust the range
        type: 'LoadBalancer',
        ports: [{ port: 80, protocol: 'TCP' }],
        allocateLoadBalancerNodePorts: false,
        ...(opts.etpLocal ? { externalTrafficPolicy: 'Local' } : {}),
        ...(ips.some((ip) => ip.includes(':')) ? { ipFamilyPolicy: 'PreferDualStack' } : {}),
      },
    },
  });
  await patchServiceIngress(core, namespace, name, ips);
}

/** Replaces status.loadBalancer.ingress of a Service (what the allocator writes). */
export function patchServiceIngress(core: CoreV1Api, namespace: string, name: string, ips: string[]) {
  const status = { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } };
  return core.patchNamespacedServiceStatus({ name, namespace, body: { status } }, mergePatch);
}

/** Names of the nodes that have the address on the interface, sorted. */
export function holderNames(lan: Lan, ip: string, ifname: string): string[] {
  return lan.nodes
    .filter((n) => lan.addresses(n, ifname).some((a) => a.ip === ip))
    .map((n) => n.name)
    .sort();
}

/** Waits until exactly `expected` holds the address on eth0 (and nobody else); the error shows the agents' logs. */
export async function waitForSingleHolder(lan: Lan, ip: string, expected: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `${ip} on eth0 of ${expected} only`,
    async () => {
      const h = holderNames(lan, ip, 'eth0');
      return h.length === 1 && h[0] === expected;
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; holders now: ${holderNames(lan, ip, 'eth0').join(',') || 'none'}\n${lan.nodes.map((n) => `--- ${n.name}\n${agentLogTail(n, 8)}`).join('\n')}`,
    );
  });
}

/** Creates a ServiceGroup (purelb.io/v1) with `spec` in the install namespace. */
export async function createServiceGroup(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'servicegroups',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ServiceGroup', metadata: { name }, spec },
  });
}

/** Starts the agents and waits for their heartbeat Leases in the install namespace. */
export async function startAgentsAndWait(
  lan: Lan,
  kc: KubeConfig,
  namespace: string,
  args: string[],
  nodes: LanNode[] = lan.nodes,
): Promise<void> {
  for (const n of nodes) await lan.startAgent(n, args);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  await waitFor(
    'heartbeat Leases of the started agents',
    async () => {
      const leases = await coordination.listNamespacedLease({ namespace });
      return nodes.every((n) => leases.items.some((l) => l.metadata?.name === `purelb-node-${n.name}`));
    },
    30_000,
  );
}

/** The start of every agent test file: an admin client, the CRDs, fresh install and app namespaces, and
 * the LBNodeAgent "default" (kube-lb0; `sendgarp` as given, else the CRD's default). */
export async function agentTestSetup(opts: { sendgarp?: boolean } = {}) {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  await applyCRDs(kc);
  const install = await freshNamespace(kc, 'purelb');
  const apps = await freshNamespace(kc, 'apps');
  const custom = kc.makeApiClient(CustomObjectsApi);
  const local = {
    localint: 'default',
    extlbint: 'kube-lb0',
    ...(opts.sendgarp !== undefined ? { sendgarp: opts.sendgarp } : {}),
  };
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: install,
    plural: 'lbnodeagents',
    body: { apiVersion: 'purelb.io/v1', kind: 'LBNodeAgent', metadata: { name: 'default' }, spec: { local } },
  });
  return { kc, core, custom, install, apps };
}

/** The agent command line every agent integration test runs with: the test apiserver, no routing, fast
 * heartbeats and resync (more flags after). */
export const agentTestArgs = (install: string, ...extra: string[]): string[] => [
  '--kubeconfig',
  process.env.PURELB_TEST_KUBECONFIG!,
  '--namespace',
  install,
  '--routing',
  'off',
  '--heartbeat-renew',
  '500ms',
  '--heartbeat-duration',
  '3s',
  '--resync',
  '5s',
  ...extra,
];

/** Counts gratuitous ARPs and neighbour advertisements for the addresses on the bridge until stopped. */
export async function captureAnnouncements(lan: Lan, ...addresses: string[]) {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      lan.lanNetns,
      'python3',
      join(repoRoot, 'test', 'integration', 'announcements-capture.py'),
      'br0',
      ...addresses,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the capture on the bridge', async () => out.startsWith('ready'), 10_000);
  return {
    async stop(): Promise<Record<string, number>> {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await exited;
      return JSON.parse(out.split('\n')[1]!) as Record<string, number>;
    },
  };
}
