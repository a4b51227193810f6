// Lease leader election (src/k8s/leader-election.ts) against the real apiserver: one leader among
// racing candidates, expiry judged on the candidate's own clock (a holder's wall-clock renewTime is
// never trusted), a leader that loses the Lease steps down, and a clean stop hands over at once.
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { CoordinationV1Api, V1MicroTime, type KubeConfig } from '@kubernetes/client-node';
import { startLeaderElection, type LeaderElector } from '../../src/k8s/leader-election.ts';
import { createLogger } from '../../src/log.ts';
import { adminKubeConfig, cleanUpNamespaces, freshNamespace, kubeClient, waitFor } from '../harness/kube.ts';
import { setTimeout as sleep } from 'node:timers/promises';

let kc: KubeConfig;
let ns: string;
const electors: LeaderElector[] = [];

beforeAll(() => {
  kc = adminKubeConfig();
});
beforeEach(async () => {
  ns = await freshNamespace(kc, 'lease');
});
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});
afterAll(cleanUpNamespaces);

const leases = () => kc.makeApiClient(CoordinationV1Api);

function candidate(identity: string, events: string[] = []): LeaderElector {
  const e = startLeaderElection({
    kc: kubeClient(kc),
    namespace: ns,
    name: 'test-lease',
    identity,
    log: createLogger('lease-test', { identity }),
    leaseDurationSec: 3,
    renewDeadlineSec: 2,
    retryPeriodSec: 0.5,
    onStartedLeading: () => void events.push(`${identity} started`),
    onStoppedLeading: () => void events.push(`${identity} stopped`),
  });
  electors.push(e);
  return e;
}

const holder = async () =>
  (await leases().readNamespacedLease({ namespace: ns, name: 'test-lease' })).spec?.holderIdentity;

async function ghostLease(renewTime: Date): Promise<void> {
  await leases().createNamespacedLease({
    namespace: ns,
    body: {
      metadata: { name: 'test-lease' },
      spec: {
        holderIdentity: 'ghost',
        leaseDurationSeconds: 3,
        acquireTime: new V1MicroTime(renewTime),
        renewTime: new V1MicroTime(renewTime),
        leaseTransitions: 4,
      },
    },
  });
}

test('racing candidates: exactly one leads, and the Lease names it', async () => {
  const all = ['a', 'b', 'c'].map((id) => [id, candidate(id)] as const);
  await waitFor('a leader', async () => all.some(([, e]) => e.isLeader()));
  await sleep(1500); // several retry periods: the others keep standing by
  const leaders = all.filter(([, e]) => e.isLeader()).map(([id]) => id);
  expect(leaders).toHaveLength(1);
  expect(await holder()).toBe(leaders[0]);
});

test('a holder whose renewTime is an hour old is not taken over before the lease duration passes on our clock', async () => {
  await ghostLease(new Date(Date.now() - 3600_000));
  const e = candidate('me');
  await sleep(1500); // comparing renewTime with the wall clock would have taken over at the first attempt
  expect(e.isLeader()).toBe(false);
  await waitFor('takeover after the ghost stayed silent for a lease duration', async () => e.isLeader(), 10_000);
  const lease = await leases().readNamespacedLease({ namespace: ns, name: 'test-lease' });
  expect(lease.spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 5, leaseDurationSeconds: 3 });
});

test('a holder whose renewTime lies in the future (clock skew) is taken over once it stops renewing', async () => {
  await ghostLease(new Date(Date.now() + 3600_000));
  const e = candidate('me');
  await waitFor('takeover', async () => e.isLeader(), 10_000);
  expect(await holder()).toBe('me');
});

test('a leader that finds the Lease taken steps down within the renew deadline', async () => {
  const events: string[] = [];
  const e = candidate('leader', events);
  await waitFor('leading', async () => e.isLeader());
  // another writer takes the Lease and keeps it fresh
  const api = leases();
  const steal = async () => {
    const l = await api.readNamespacedLease({ namespace: ns, name: 'test-lease' });
    await api.replaceNamespacedLease({
      namespace: ns,
      name: 'test-lease',
      body: { ...l, spec: { ...l.spec, holderIdentity: 'intruder', renewTime: new V1MicroTime() } },
    });
  };
  await steal();
  const keepFresh = setInterval(() => void steal().catch(() => undefined), 400);
  try {
    await waitFor('stepped down', async () => !e.isLeader(), 10_000);
    expect(events).toEqual(['leader started', 'leader stopped']);
    expect(await holder()).toBe('intruder');
  } finally {
    clearInterval(keepFresh);
  }
});

test('a clean stop releases the Lease so the standby takes over without waiting for expiry', async () => {
  const events: string[] = [];
  const first = candidate('first', events);
  await waitFor('first leads', async () => first.isLeader());
  const second = candidate('second', events);
  await sleep(1000);
  expect(second.isLeader()).toBe(false);
  const lease = async () => (await leases().readNamespacedLease({ namespace: ns, name: 'test-lease' })).spec!;
  const held = await lease();
  await first.stop();
  // released: empty, or already taken by the standby (it tries every 0.5 s, and may come before this read)
  expect(['', 'second']).toContain(await holder());
  await waitFor('second leads', async () => second.isLeader(), 5_000);
  expect(events).toEqual(['first started', 'first stopped', 'second started']);
  // taken before first's last renewal would have expired
  const expiry = new Date(held.renewTime!).getTime() + held.leaseDurationSeconds! * 1000;
  expect(new Date((await lease()).acquireTime!).getTime()).toBeLessThan(expiry);
});
