// Failover trials of a local address between real node agents (3 `purelb agent` child processes in
// network namespaces on one bridged LAN, test/integration/agent-lan.ts) against a given apiserver. Per
// trial the owner's agent gets the signal (SIGKILL = hard crash, SIGTERM = graceful, no restart grace);
// measured from the signal until the next node has the address on eth0 AND its gratuitous ARP has
// reached the LAN (the bridge namespace's neighbour entry switches to its MAC). After a SIGKILL also
// how long the killed agent's node kept the address (its lifetime). The agent is restarted after each
// trial, and the returning node must take nothing back. Used by bench/agent-failover.ts (an idle
// apiserver) and bench/scale.ts (the apiserver of N simulated nodes).
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { electWinner } from '../src/agent/election.ts';
import { GROUP, VERSION } from '../src/api/names.ts';
import { HEARTBEAT_PREFIX } from '../src/model/heartbeat.ts';
import { applyCRDs, freshNamespace, waitFor } from '../test/harness/kube.ts';
import { createBrandedService, createLan, LAN_V4, type Lan, type LanNode } from '../test/integration/agent-lan.ts';

export interface FailoverLab {
  lan: Lan;
  apps: string;
  /** The agents' process ids (for their CPU and RSS). */
  pids(): number[];
  /** Runs `trials` trials with `signal`; addresses from `firstHost` on. */
  trials(signal: 'SIGKILL' | 'SIGTERM', trials: number, firstHost: number): Promise<TrialTimes>;
  destroy(): Promise<void>;
}

/** Per trial, from the signal: the successor's log saying the owner is silent on the LAN (SIGKILL only),
 * its log saying it added the address, the LAN seeing its GARP (`ms`), and the killed node's copy gone. */
export interface TrialTimes {
  ms: number[];
  detectMs: number[];
  addedMs: number[];
  keptMs: number[];
}

export const median = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export const summary = (label: string, ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return `${label}: ${s.length} trials, median ${median(s).toFixed(0)} ms, min ${s[0]!.toFixed(0)} ms, max ${s.at(-1)!.toFixed(0)} ms`;
};

const OWNER_SILENT = 'owner does not answer on the LAN: taking over its local addresses';
const ADDED = 'announcing local address';

/** Milliseconds from `since` (wall clock) to the first line of the agent's log with `msg` about `ip`
 * (the address itself or, for the silent owner, a line after `since`). */
function loggedAt(logFile: string, msg: string, ip: string, since: number): number | undefined {
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes(msg)) continue;
    const entry = JSON.parse(line) as { ts: string; address?: string };
    const at = Date.parse(entry.ts);
    if (at >= since && (msg === OWNER_SILENT || entry.address === ip)) return at - since;
  }
  return undefined;
}

/** Three agents with `agentArgs` (heartbeat timings etc.) against the apiserver of `kc`/`kubeconfig`;
 * `prepare` runs before they start, with the Services' namespace (objects the agents then find at start). */
export async function startFailoverLab(
  kc: KubeConfig,
  kubeconfig: string,
  agentArgs: string[],
  prepare?: (apps: string) => Promise<void>,
): Promise<FailoverLab> {
  await applyCRDs(kc);
  const install = await freshNamespace(kc, 'purelb');
  const apps = await freshNamespace(kc, 'apps');
  await prepare?.(apps);
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: install,
    plural: 'lbnodeagents',
    body: {
      apiVersion: 'purelb.io/v1',
      kind: 'LBNodeAgent',
      metadata: { name: 'default' },
      spec: { local: { sendgarp: true } },
    },
  });
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const lan = await createLan(3, Number(new URL(kc.getCurrentCluster()!.server).port));
  // SIGTERM here measures the hand-over of a stopping node (no restart grace)
  const args = [
    '--kubeconfig',
    kubeconfig,
    '--namespace',
    install,
    '--routing',
    'off',
    '--restart-grace=0s',
    ...agentArgs,
  ];
  // a Lease renewed after the start (a SIGKILLed agent leaves a stale one behind)
  const start = async (n: LanNode) => {
    const startedAt = Date.now();
    // their info lines time the trials (loggedAt), whatever level the caller's own logs use
    await lan.startAgent(n, args, { env: { PURELB_LOG_LEVEL: 'info' } });
    await waitFor(
      `heartbeat of ${n.name}`,
      async () =>
        (await coordination.listNamespacedLease({ namespace: install })).items.some(
          (l) =>
            l.metadata?.name === HEARTBEAT_PREFIX + n.name &&
            new Date(l.spec?.renewTime as unknown as string).getTime() > startedAt,
        ),
      60_000,
    );
  };
  for (const n of lan.nodes) await start(n);
  const names = lan.nodes.map((n) => n.name);
  const holds = (n: LanNode, ip: string) => lan.addresses(n, 'eth0').some((a) => a.ip === ip);

  const trial = async (signal: 'SIGKILL' | 'SIGTERM', ip: string, name: string) => {
    await createBrandedService(core, apps, name, [ip]);
    const owner = lan.nodes.find((n) => n.name === electWinner(ip, names))!;
    await waitFor(
      `${ip} on ${owner.name} and announced`,
      async () => lan.neighbour(ip) === owner.mac && holds(owner, ip),
      30_000,
    );
    const next = lan.nodes.find(
      (n) =>
        n.name ===
        electWinner(
          ip,
          names.filter((x) => x !== owner.name),
        ),
    )!;
    // start the clock at a random point of the renew period, as a real crash would
    await sleep(Math.random() * 1000);
    const wall0 = Date.now();
    const t0 = performance.now();
    void lan.stopAgent(owner, signal);
    // the LAN's neighbour entry first: one small table; the successor's addresses (a dump of all its
    // addresses, 10,000 on kube-lb0 in bench/scale.ts) only once the LAN points at it
    for (;;) {
      if (lan.neighbour(ip) === next.mac && holds(next, ip)) break;
      if (performance.now() - t0 > 60_000) throw new Error(`${signal}: ${next.name} did not take ${ip} over`);
      await sleep(5);
    }
    const ms = performance.now() - t0;
    const logged = (msg: string) => loggedAt(next.logFile, msg, ip, wall0);
    let keptMs: number | undefined;
    if (signal === 'SIGKILL') {
      while (holds(owner, ip)) {
        if (performance.now() - t0 > 30_000) throw new Error(`${ip} never expired on ${owner.name}`);
        await sleep(20);
      }
      keptMs = performance.now() - t0;
    }
    await waitFor(
      `${owner.name} agent exited`,
      async () => owner.agent?.exitCode !== null || owner.agent?.signalCode !== null,
    );
    await start(owner);
    // the returning node takes nothing back: the address stays with its current owner
    await sleep(1000);
    if (!holds(next, ip) || holds(owner, ip))
      throw new Error(`${signal}: ${ip} did not stay on ${next.name} after ${owner.name} returned`);
    return { ms, keptMs, detectMs: logged(OWNER_SILENT), addedMs: logged(ADDED) };
  };

  return {
    lan,
    apps,
    pids: () => lan.nodes.flatMap((n) => (n.agent?.pid ? [n.agent.pid] : [])),
    async trials(signal, count, firstHost) {
      const times: TrialTimes = { ms: [], detectMs: [], addedMs: [], keptMs: [] };
      for (let i = 0; i < count; i++) {
        const r = await trial(signal, `${LAN_V4}.${firstHost + i}`, `${signal.toLowerCase()}-${firstHost + i}`);
        times.ms.push(r.ms);
        for (const k of ['keptMs', 'detectMs', 'addedMs'] as const) if (r[k] !== undefined) times[k].push(r[k]);
      }
      return times;
    },
    async destroy() {
      // PURELB_BENCH_LOGS=<dir> keeps the agents' logs (they go with the LAN otherwise)
      const keep = process.env.PURELB_BENCH_LOGS;
      if (keep) {
        mkdirSync(keep, { recursive: true });
        for (const n of lan.nodes) copyFileSync(n.logFile, join(keep, `${n.name}.log`));
      }
      await lan.destroy();
    },
  };
}
