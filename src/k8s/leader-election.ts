// Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics: every write carries the
// resourceVersion it read (optimistic concurrency, a lost race is a 409), another holder's lease counts
// as expired only when its record has not changed for leaseDuration on OUR monotonic clock (never by
// comparing its renewTime with our wall clock), a leader that cannot renew within renewDeadline steps
// down (renewDeadline < leaseDuration, so it stops before anyone else can take over), and a leader
// that stops cleanly releases the lease so a standby takes over at once.
import type { V1Lease, V1LeaseSpec } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { errorText, type Logger } from '../log.ts';
import { setTimeout as wait } from 'node:timers/promises';
import { microTime, type KubeClient } from './rest.ts';

export interface LeaderElectionOptions {
  kc: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSec?: number;
  renewDeadlineSec?: number;
  retryPeriodSec?: number;
  log: Logger;
  /** Called when leadership is won; runs alongside the renewals (a slow start does not lose the Lease). */
  onStartedLeading(): void | Promise<void>;
  onStoppedLeading(): void;
  /** Monotonic milliseconds (tests may inject). */
  now?: () => number;
}

export interface LeaderElector {
  isLeader(): boolean;
  /** Stops campaigning; a leader releases the lease first. */
  stop(): Promise<void>;
}

/** A Lease's spec as it travels: its times are MicroTime strings. */
type LeaseSpec = Omit<V1LeaseSpec, 'acquireTime' | 'renewTime'> & { acquireTime?: string; renewTime?: string };
type Lease = Omit<V1Lease, 'spec'> & { spec?: LeaseSpec };

const recordKey = (s: LeaseSpec | undefined) =>
  JSON.stringify([
    s?.holderIdentity ?? '',
    s?.leaseDurationSeconds ?? 0,
    s?.acquireTime ?? '',
    s?.renewTime ?? '',
    s?.leaseTransitions ?? 0,
  ]);

/** Waits ms, or less when `signal` aborts meanwhile (stopping ends the wait, it is no error). */
const sleep = (ms: number, signal: AbortSignal) => wait(ms, undefined, { signal }).catch(() => undefined);

/** Rejects when `p` takes longer than ms (a hung request must not outlive the renew deadline). */
const within = <T>(p: Promise<T>, ms: number) =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), Math.max(ms, 0));
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(errorText(e)));
      },
    );
  });

/** Why these timings cannot work (client-go's rule), or undefined when they can. */
export function timingProblem(leaseSec: number, renewSec: number, retrySec: number): string | undefined {
  return retrySec < renewSec && renewSec < leaseSec
    ? undefined
    : `need retry period < renew deadline < lease duration (got ${retrySec} s, ${renewSec} s, ${leaseSec} s)`;
}

// eslint-disable-next-line max-lines-per-function -- a factory: the returned methods share the lease loop state, each step is a named inner function
export function startLeaderElection(opts: LeaderElectionOptions): LeaderElector {
  const { kc, namespace, name, identity, log } = opts;
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  const leasePath = `${leases}/${name}`;
  const leaseMs = (opts.leaseDurationSec ?? 15) * 1000;
  const renewMs = (opts.renewDeadlineSec ?? 10) * 1000;
  const retryMs = (opts.retryPeriodSec ?? 2) * 1000;
  const bad = timingProblem(leaseMs / 1000, renewMs / 1000, retryMs / 1000);
  if (bad) throw new Error(`leader election ${namespace}/${name}: ${bad}`);
  const mono = opts.now ?? (() => performance.now());
  const abort = new AbortController();
  let observedKey = '';
  let observedAt = 0;
  let observedRV: string | undefined;
  let observedSpec: LeaseSpec | undefined;
  let leader = false;

  const record = (acquired: LeaseSpec | undefined): LeaseSpec => {
    const now = microTime();
    const mine = acquired?.holderIdentity === identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: leaseMs / 1000,
      acquireTime: mine && acquired?.acquireTime ? acquired.acquireTime : now,
      renewTime: now,
      leaseTransitions: (acquired?.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
  };

  const observe = (lease: Lease) => {
    const key = recordKey(lease.spec);
    if (key !== observedKey) {
      observedKey = key;
      observedAt = mono();
    }
    observedRV = lease.metadata?.resourceVersion;
    observedSpec = lease.spec;
  };

  /** One attempt; true when we hold the lease afterwards. */
  async function tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    let lease: Lease;
    try {
      lease = await within(kc.get<Lease>(leasePath), timeoutMs);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      const spec = record(undefined);
      spec.leaseTransitions = 0;
      observe(await within(kc.create<Lease>(leases, { metadata: { name, namespace }, spec }), timeoutMs));
      return true;
    }
    observe(lease);
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== identity && observedAt + leaseMs > mono()) return false;
    const body: Lease = { metadata: { ...lease.metadata, resourceVersion: observedRV }, spec: record(lease.spec) };
    observe(await within(kc.replace<Lease>(leasePath, body), timeoutMs));
    return true;
  }

  async function campaign(): Promise<void> {
    while (!abort.signal.aborted) {
      try {
        if (await tryAcquireOrRenew(retryMs)) {
          leader = true;
          log.info('became leader', { lease: `${namespace}/${name}`, identity });
          // not awaited: renewals must go on while the leader starts up (e.g. a long LIST)
          void Promise.resolve()
            .then(() => opts.onStartedLeading())
            .catch((err: unknown) =>
              log.error('onStartedLeading failed', {
                lease: `${namespace}/${name}`,
                error: err,
              }),
            );
          await holdLeadership();
          continue;
        }
      } catch (err) {
        log.warn('lease attempt failed', {
          lease: `${namespace}/${name}`,
          error: err,
        });
      }
      await sleep(retryMs * (1 + Math.random() * 0.2), abort.signal);
    }
  }

  async function holdLeadership(): Promise<void> {
    let lastRenew = mono();
    while (!abort.signal.aborted) {
      await sleep(retryMs, abort.signal);
      if (abort.signal.aborted) return;
      let renewed = false;
      try {
        renewed = await tryAcquireOrRenew(lastRenew + renewMs - mono());
      } catch (err) {
        log.warn('lease renewal failed', {
          lease: `${namespace}/${name}`,
          error: err,
        });
      }
      if (renewed) lastRenew = mono();
      if (!renewed && mono() - lastRenew >= renewMs) {
        leader = false;
        log.error('lost leadership: could not renew within the renew deadline', {
          lease: `${namespace}/${name}`,
          identity,
        });
        opts.onStoppedLeading();
        return;
      }
    }
  }

  const running = campaign();

  return {
    isLeader: () => leader,
    async stop() {
      abort.abort();
      await running;
      if (!leader) return;
      leader = false;
      opts.onStoppedLeading();
      try {
        // release: empty holder and a 1 s duration so a standby takes over at its next attempt
        const now = microTime();
        await kc.replace(leasePath, {
          metadata: { name, namespace, resourceVersion: observedRV },
          spec: { ...observedSpec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
        });
        log.info('released leadership', { lease: `${namespace}/${name}`, identity });
      } catch (err) {
        log.warn('could not release the lease; a standby takes over when it expires', {
          lease: `${namespace}/${name}`,
          error: err,
        });
      }
    },
  };
}
