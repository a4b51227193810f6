// Observations and actions of the real-cluster e2e suite that the process lab has no use for: kubectl,
// the containers of a node (crictl), images retagged inside every node, a request loop from the client
// and a monitor of the ToR's routing table that records every change while a scenario runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalIP } from '../../src/api/ip.ts';
import { clusterBinaries } from '../../src/lab/cluster/binaries.ts';
import { run } from '../../src/exec.ts';
import { nodeByIP, type Lab } from '../../src/lab/lab.ts';
import { kubeNodePlan, nodePaths } from '../../src/lab/kube/node-config.ts';
import { kubectl } from '../../src/lab/real-cluster.ts';
import { answerKey, urlFor } from '../../src/lab/spread.ts';

export const kctl = (lab: Lab, args: string[], timeoutMs?: number) => kubectl(lab.kubeconfig, args, timeoutMs);

const kubeNode = (lab: Lab, node: string) =>
  kubeNodePlan(
    lab.plan,
    lab.plan.nodes.findIndex((n) => n.name === node),
  );

/** crictl against one node's containerd. */
export function crictl(lab: Lab, node: string, args: string[]): Promise<string> {
  return run(clusterBinaries().crictl, [`--runtime-endpoint=unix://${kubeNode(lab, node).containerdSocket}`, ...args]);
}

/** The host pid of a running container of the node (by container name, e.g. "lbnodeagent"). */
export async function containerPid(lab: Lab, node: string, container: string): Promise<number> {
  const ps = JSON.parse(
    await crictl(lab, node, ['ps', '--name', `^${container}$`, '--state', 'Running', '-o', 'json']),
  ) as { containers: { id: string }[] };
  const id = ps.containers[0]?.id;
  if (!id) throw new Error(`no running container ${container} on ${node}`);
  const info = JSON.parse(await crictl(lab, node, ['inspect', id])) as { info: { pid: number } };
  return info.info.pid;
}

/** Tags an image that every node already has under a new name (a "new release" without a registry). */
export async function tagImageOnNodes(lab: Lab, from: string, to: string): Promise<void> {
  for (const n of lab.plan.nodes) {
    await run('ctr', [
      '-a',
      kubeNode(lab, n.name).containerdSocket,
      '-n',
      'k8s.io',
      'images',
      'tag',
      '--force',
      from,
      to,
    ]);
  }
}

/** A background loop of requests from the client namespace: one new connection every `intervalMs`
 * to each URL, 1 s timeout. `stop()` returns every answer and, for each failed one, when it started and
 * curl's exit code (28: timed out, 7: refused, 52/56: reset mid-connection, 0: an empty answer), so a
 * failure can be matched with the agents' logs. */
export function startRequestLoop(lab: Lab, targets: { address: string; port: number }[], intervalMs = 100) {
  const urls = targets.map((t) => urlFor(t.address, t.port));
  const script = `while :; do for u in "$@"; do t=$(date +%s%3N); a=$(curl -s -m 1 "$u") && echo "$t $u $a" || echo "$t $u - $?"; done; sleep ${intervalMs / 1000}; done`;
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', lab.plan.clientNetns, 'sh', '-c', script, 'loop', ...urls],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  return {
    urls,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      const byUrl: Record<string, Record<string, number>> = {};
      const failures: RequestFailure[] = [];
      let total = 0;
      for (const line of out.split('\n')) {
        const m = /^(\d+) (\S+) (.*)$/.exec(line);
        if (!m) continue;
        const [, at, url, answer] = m as unknown as [string, string, string, string];
        const failed = /^- (\d+)$/.exec(answer);
        const key = failed ? '(failed)' : answerKey(answer).split('/')[0]!;
        byUrl[url] ??= {};
        byUrl[url][key] = (byUrl[url][key] ?? 0) + 1;
        total++;
        // an empty answer (curl exit 0) fails too
        if (key === '(failed)')
          failures.push({ at: new Date(Number(at)).toISOString(), url, curlExit: failed ? Number(failed[1]) : 0 });
      }
      return { total, failed: failures.length, byUrl, failures };
    },
  };
}

export interface RequestFailure {
  at: string;
  url: string;
  curlExit: number;
}

/** curl's exit codes for a connection that was open when its path moved (52: empty reply, 55: send
 * failed, 56: receive failed): the node the ToR sends it to now has no state for it and resets it. */
const RESET_MID_CONNECTION = new Set([52, 55, 56]);

/** The failures a move does not explain: every timeout or refused connection, and all but one reset
 * mid-connection per URL whose address moved (its local address went to another node, or its routes
 * changed next hops). A new connection after the move must succeed. */
export function unexplainedFailures(failures: RequestFailure[], movedUrls: string[]): RequestFailure[] {
  const forgiven = new Set<string>();
  return failures.filter((f) => {
    if (!RESET_MID_CONNECTION.has(f.curlExit) || !movedUrls.includes(f.url) || forgiven.has(f.url)) return true;
    forgiven.add(f.url);
    return false;
  });
}

interface RouteEvent {
  at: number;
  line: string;
}

/** `ip monitor route` in the ToR namespace: every change of the ToR's FIB while it runs. */
export function startRouteMonitor(lab: Lab) {
  const child = spawn('ip', ['-n', lab.plan.torNetns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const events: RouteEvent[] = [];
  let buf = '';
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    // multipath routes span several lines (continuation lines start with whitespace)
    const parts = buf.split(/\n(?=\S)/);
    buf = parts.pop() ?? '';
    for (const p of parts) events.push({ at: Date.now(), line: p.replace(/\s+/g, ' ').trim() });
  });
  return {
    async stop(): Promise<RouteEvent[]> {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      if (buf.trim()) events.push({ at: Date.now(), line: buf.replace(/\s+/g, ' ').trim() });
      return events;
    },
  };
}

/** Route events that concern `address` and leave it with fewer next hops than `nodes` (a withdrawal, a
 * lost next hop or a deleted route), with the node names still present. */
export async function withdrawalsOf(
  lab: Lab,
  events: RouteEvent[],
  address: string,
  nodes: string[],
): Promise<string[]> {
  const names = await nodeByIP(lab.plan);
  const a = canonicalIP(address)!;
  const out: string[] = [];
  for (const e of events) {
    const dst = /^(?:Deleted )?(\S+)/.exec(e.line)?.[1];
    if (!dst || canonicalIP(dst.split('/')[0]!) !== a) continue;
    const hops = new Set(
      [...e.line.matchAll(/via (?:inet6 )?([0-9a-f.:]+)/gi)].map((m) => names[canonicalIP(m[1]!) ?? m[1]!] ?? m[1]!),
    );
    if (e.line.startsWith('Deleted') || nodes.some((n) => !hops.has(n))) out.push(e.line);
  }
  return out;
}

/** Copies the logs of every PureLB container (current and restarted ones) into `dir` as
 * `pod-<node>-<pod>-<container>-<restart>.log`: they live in the nodes' kubelet directories, which
 * teardown removes (and `kubectl logs` cannot reach the nodes' kubelets from the host). */
export function savePodLogs(lab: Lab, dir: string): void {
  for (const n of lab.plan.nodes) {
    const root = nodePaths(kubeNode(lab, n.name)).podLogs;
    if (!existsSync(root)) continue;
    // <namespace>_<pod>_<uid>/<container>/<restart>.log
    for (const pod of readdirSync(root).filter((p) => p.startsWith('purelb_'))) {
      const podName = pod.split('_')[1];
      for (const container of readdirSync(join(root, pod))) {
        for (const f of readdirSync(join(root, pod, container))) {
          copyFileSync(join(root, pod, container, f), join(dir, `pod-${n.name}-${podName}-${container}-${f}`));
        }
      }
    }
  }
}
