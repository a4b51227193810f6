// The heartbeat writer publishes the node's routing state on its Lease against the real apiserver: the
// purelb.io/routing-rejected annotation appears at once when the routing side reports a Rejected or Failed
// reload (no waiting for the next renewal) and is removed by the next Applied one, and every reader
// (parseHeartbeat: the allocator's NoEligibleNode report) sees it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from '@jest/globals';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { startHeartbeat } from '../../src/agent/heartbeat.ts';
import { k8sBinDir } from '../../src/lab/cluster/binaries.ts';
import { createLogger } from '../../src/log.ts';
import { parseHeartbeat, ROUTING_REJECTED_ANNOTATION } from '../../src/model/heartbeat.ts';
import { adminKubeConfig, cleanUpNamespaces, freshNamespace, kubeClient, waitFor } from '../harness/kube.ts';

afterAll(cleanUpNamespaces);

test('routing rejected is on the heartbeat Lease while it lasts, written at once on a change', async () => {
  const kc = adminKubeConfig();
  const namespace = await freshNamespace(kc, 'purelb');
  const leases = kc.makeApiClient(CoordinationV1Api);
  const read = () => leases.readNamespacedLease({ name: 'purelb-node-n1', namespace });
  const heartbeat = startHeartbeat({
    kc: kubeClient(kc),
    namespace,
    node: 'n1',
    renewMs: 600_000, // no renewal in this test: a change must be written on its own
    durationS: 900,
    log: createLogger('test', {}, () => {}),
    onLiveChange: () => {},
    onRenewFailure: () => {},
  });
  /** The rows of the command in docs/troubleshooting.md. */
  const columns = async () => {
    const { stdout } = await promisify(execFile)(join(k8sBinDir(), 'kubectl'), [
      '--kubeconfig',
      process.env.PURELB_TEST_KUBECONFIG!,
      'get',
      'lease',
      '-n',
      namespace,
      '-l',
      'purelb.io/heartbeat',
      '-o',
      'custom-columns=NODE:.spec.holderIdentity,ROUTING REJECTED:.metadata.annotations.purelb\\.io/routing-rejected',
    ]);
    return stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s{2,}/));
  };
  try {
    expect(await heartbeat.start()).toBe(true);
    expect((await read()).metadata?.annotations).not.toHaveProperty(ROUTING_REJECTED_ANNOTATION);
    const why = 'RouterConfig purelb/default: Rejected';
    heartbeat.setRoutingRejected(why);
    await waitFor('the mark on the Lease', async () => parseHeartbeat(await read())?.routingRejected === why);
    expect(heartbeat.self(Date.now())?.routingRejected).toBe(why);
    expect(await columns()).toEqual([['n1', why]]);
    heartbeat.setRoutingRejected(undefined);
    await waitFor('the mark removed', async () => !(await read()).metadata?.annotations?.[ROUTING_REJECTED_ANNOTATION]);
    expect(heartbeat.self(Date.now())).not.toHaveProperty('routingRejected');
    expect(await columns()).toEqual([['n1', '<none>']]);
  } finally {
    await heartbeat.stop(true);
  }
}, 30_000);
