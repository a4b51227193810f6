// Benchmark: failover of a local address between node agents on an idle apiserver (3 agents as child
// processes in 3 network namespaces on one bridged LAN; bench/failover-trials.ts runs the trials). The
// agents run with the product's defaults (heartbeat timings and LAN probes from the agent's option
// table) unless renew and duration are given.
// Run: npm run bench:agent (or npx node bench/agent-failover.ts [trials] [renew] [duration])
import { KubeConfig } from '@kubernetes/client-node';
import { OPTIONS } from '../src/cli/agent.ts';
import { startCluster } from '../src/lab/cluster/cluster.ts';
import { startFailoverLab, summary, type FailoverLab } from './failover-trials.ts';

const TRIALS = Number(process.argv[2] ?? 20);
const RENEW = process.argv[3] ?? OPTIONS['heartbeat-renew'].default;
const DURATION = process.argv[4] ?? OPTIONS['heartbeat-duration'].default;

const cluster = await startCluster();
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
let lab: FailoverLab | undefined;
try {
  lab = await startFailoverLab(kc, cluster.kubeconfig, ['--heartbeat-renew', RENEW, '--heartbeat-duration', DURATION]);
  for (const [signal, firstHost] of [
    ['SIGKILL', 100],
    ['SIGTERM', 150],
  ] as const) {
    const { ms, keptMs, detectMs, addedMs } = await lab.trials(signal, TRIALS, firstHost);
    console.log(
      summary(
        `failover after ${signal} (renew ${RENEW}, lease ${DURATION}): signal -> new owner has the address and its GARP reached the LAN`,
        ms,
      ),
    );
    if (detectMs.length) console.log(summary('  of which: signal -> the successor logged the owner silent', detectMs));
    console.log(summary('  of which: signal -> the successor logged the address added', addedMs));
    if (keptMs.length)
      console.log(
        summary("after SIGKILL: signal -> the address expired on the killed agent's node (default lifetime)", keptMs),
      );
  }
} finally {
  await lab?.destroy();
  await cluster.stop();
}
