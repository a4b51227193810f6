// Segments against the real apiserver: the heartbeat writer labels its Lease with one segment label per
// subnet and removes the labels of subnets the node no longer has (also those an earlier agent on the
// node left), and a per-segment watch (src/agent/segment-leases.ts) sees exactly the Leases of its
// segments: one that leaves the segment's selector is deleted from that watch's view.
import { isDeepStrictEqual } from 'node:util';
import { afterAll, expect, test } from '@jest/globals';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { startHeartbeat } from '../../src/agent/heartbeat.ts';
import { leaseWatches, segmentLeases } from '../../src/agent/segment-leases.ts';
import { createLogger } from '../../src/log.ts';
import { heartbeatLabels } from '../../src/model/heartbeat.ts';
import { adminKubeConfig, cleanUpNamespaces, freshNamespace, kubeClient, waitFor } from '../harness/kube.ts';

afterAll(cleanUpNamespaces);

const A = '192.168.10.0/24';
const B = 'fd00:10::/64';
const C = '192.168.20.0/24';

test('segment labels follow the subnets; a segment watch sees its Leases only, and loses one that leaves', async () => {
  const kc = adminKubeConfig();
  const namespace = await freshNamespace(kc, 'purelb');
  const log = createLogger('test', {}, () => {});
  const read = async () =>
    (await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'purelb-node-n1', namespace })).metadata
      ?.labels;
  const writer = (node: string) =>
    startHeartbeat({
      kc: kubeClient(kc),
      namespace,
      node,
      renewMs: 600_000, // no renewal in this test: changes are written on their own
      durationS: 900,
      log,
      onLiveChange: () => {},
      onRenewFailure: () => {},
    });
  const n1 = writer('n1');
  const n2 = writer('n2');
  const inA = segmentLeases(leaseWatches(kubeClient(kc), namespace, log));
  const inC = segmentLeases(leaseWatches(kubeClient(kc), namespace, log));
  const changes: string[] = [];
  inA.onChange((obj, kind) => changes.push(`${kind} ${obj?.metadata?.name ?? ''}`));
  const names = (view: typeof inA) =>
    view
      .list()
      .map((l) => l.metadata!.name)
      .sort();
  let restarted: ReturnType<typeof writer> | undefined;
  try {
    n1.setSubnets([A, B]);
    n2.setSubnets([C]);
    expect(await n1.start()).toBe(true);
    expect(await n2.start()).toBe(true);
    expect(await read()).toEqual(heartbeatLabels([A, B]));
    await Promise.all([inA.setSegments([A]), inC.setSegments([C])]);
    expect(names(inA)).toEqual(['purelb-node-n1']);
    expect(names(inC)).toEqual(['purelb-node-n2']);

    // n1 leaves A: its label goes, and the watch of A sees a delete
    n1.setSubnets([B]);
    await waitFor('the label of A removed', async () => isDeepStrictEqual(await read(), heartbeatLabels([B])));
    await waitFor('n1 gone from the watch of A', async () => names(inA).length === 0);
    expect(changes.at(-1)).toBe('delete purelb-node-n1');

    // a new agent on the node (restart) that knows only C: it removes the label the earlier one left
    await n1.stop(false);
    restarted = writer('n1');
    restarted.setSubnets([C]);
    expect(await restarted.start()).toBe(true);
    await waitFor('the label the earlier agent left removed', async () =>
      isDeepStrictEqual(await read(), heartbeatLabels([C])),
    );
    await waitFor('n1 in the watch of C', async () => names(inC).length === 2);
    expect(names(inC)).toEqual(['purelb-node-n1', 'purelb-node-n2']);
    expect(names(inA)).toEqual([]);
  } finally {
    await Promise.all([n1.stop(true), n2.stop(true), restarted?.stop(true), inA.stop(), inC.stop()]);
  }
}, 30_000);
