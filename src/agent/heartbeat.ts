// The node's heartbeat Lease `purelb-node-<node>`: renewed every renew period, annotated with the
// subnets the node can announce and the node labels that ServiceGroup selectors read, and labelled with
// one segment label per subnet (the peers of a segment watch only its Leases). It also fences
// the agent: when no renewal succeeded for the lease duration minus a margin, the node stops counting
// itself as a candidate (its local addresses are withdrawn) just before its peers see the Lease expire
// and elect a new owner. While the node is out of service (cordoned, excluded by label) the heartbeat
// is suspended and the Lease kept but marked (OUT_OF_SERVICE_ANNOTATION, renew time in the past): the
// peers re-elect at once as after a deletion, and can still tell "excluded" from "fenced" or absent.
// Shutdown deletes the Lease.
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { microTime, type KubeClient } from '../k8s/rest.ts';
import {
  formatLabels,
  heartbeatLabels,
  HEARTBEAT_PREFIX,
  NODE_LABELS_ANNOTATION,
  OUT_OF_SERVICE_ANNOTATION,
  PROBE_ANNOTATION,
  RESTARTING_ANNOTATION,
  ROUTING_REJECTED_ANNOTATION,
  SUBNETS_ANNOTATION,
  type Heartbeat,
} from '../model/heartbeat.ts';
import { parseCIDR, type CIDR } from '../api/ip.ts';

export interface HeartbeatOptions {
  kc: KubeClient;
  namespace: string;
  node: string;
  renewMs: number;
  /** Lease duration in whole seconds (the Lease API field is an integer). */
  durationS: number;
  log: Logger;
  /** Called when the agent becomes fenced (false) or live again (true). */
  onLiveChange(live: boolean): void;
  onRenewFailure(): void;
}

export interface HeartbeatWriter {
  /** First renewal; resolves with its success. Renewals continue on a timer afterwards. */
  start(): Promise<boolean>;
  /** Subnets to publish; a change is written at once. */
  setSubnets(subnets: string[]): void;
  /** Node labels to publish (those ServiceGroup selectors read); a change is written at once. */
  setLabels(labels: Record<string, string>): void;
  /** Why the node's last routing reload was Rejected or Failed, undefined once one is Applied (or no
   * RouterConfig selects the node); a change is written at once. */
  setRoutingRejected(reason: string | undefined): void;
  /** Where peers probe this agent over the LAN (formatProbeEndpoints; empty = not probed); a change is written at once. */
  setProbeEndpoints(value: string): void;
  /** This node as an election candidate, or undefined while fenced, suspended or stopping. */
  self(now: number): Heartbeat | undefined;
  /** Stops renewing until resume(): self() is undefined from now on. Not reported as fencing. */
  suspend(): void;
  /** Renews at once and on the timer again; resolves with the success of that first renewal. */
  resume(): Promise<boolean>;
  /** While suspended: marks the Lease out of service for `reason` (created if missing) and expired, so the
   * peers re-elect at once and report this node as excluded; the next renewal removes the mark.
   * Resolves with its success (a failure is retried by the caller; meanwhile the Lease expires). */
  markOutOfService(reason: string): Promise<boolean>;
  /** Stops renewing for good; with deleteLease also deletes the Lease (after a renewal in flight), so the
   * peers re-elect at once instead of waiting for expiry. */
  stop(deleteLease: boolean): Promise<void>;
  /** Stops renewing for good after one last renewal that keeps the Lease valid for `graceS` seconds:
   * the agent that replaces this one on the node (a rolling update) renews it before it expires, so
   * the peers never see this node go and nothing moves. Resolves with the success of that renewal. */
  stopForRestart(graceS: number): Promise<boolean>;
}

const code = (err: unknown) => (err as { code?: number }).code;

const nonNull = (o: Record<string, string | null>) =>
  Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== null));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)),
  );
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

// eslint-disable-next-line max-lines-per-function -- a factory: the returned methods share the renewal timer and Lease state, each method is short
export function startHeartbeat(opts: HeartbeatOptions): HeartbeatWriter {
  const { kc } = opts;
  const name = HEARTBEAT_PREFIX + opts.node;
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`;
  const leasePath = `${leases}/${name}`;
  const durationMs = opts.durationS * 1000;
  // Withdraw this long before peers consider the Lease expired, so two nodes never hold an address.
  const marginMs = Math.min(500, durationMs / 4);
  let subnets: string[] = [];
  let labels: Record<string, string> = {};
  let routingRejected: string | undefined;
  let probe = '';
  /** The Lease's labels as the apiserver last returned them: segment labels of subnets the node no longer
   * has (also those an earlier agent on the node wrote) are removed by the next write. */
  let leaseLabels: Record<string, string> = {};
  let lastRenewed = -Infinity;
  let live = false;
  let stopped = false;
  let suspended = false;
  /** Renewal loops of an earlier start/resume stop rescheduling themselves. */
  let generation = 0;
  let renewTimer: NodeJS.Timeout | undefined;
  let fenceTimer: NodeJS.Timeout | undefined;
  let inFlight: Promise<boolean> | undefined;
  /** Subnets, labels or routing state changed while a renewal was in flight (it carried the old ones): write again after it. */
  let changedInFlight = false;

  const setLive = (value: boolean) => {
    if (live === value) return;
    live = value;
    opts.log[value ? 'info' : 'warn'](
      value
        ? 'heartbeat renewed, node is a candidate'
        : 'heartbeat not renewed in time: fenced, withdrawing local addresses',
      { lease: `${opts.namespace}/${name}` },
    );
    opts.onLiveChange(value);
  };

  const body = (
    renewTime: string,
    durationS = opts.durationS,
    outOfService: string | null = null,
    restarting: string | null = null,
  ) => ({
    metadata: {
      name,
      labels: heartbeatLabels(subnets, leaseLabels),
      // a merge patch removes the labels annotation (null) once no selector needs it: the Lease stays small
      annotations: {
        [SUBNETS_ANNOTATION]: subnets.join(','),
        [NODE_LABELS_ANNOTATION]: Object.keys(labels).length ? formatLabels(labels) : null,
        [OUT_OF_SERVICE_ANNOTATION]: outOfService,
        [ROUTING_REJECTED_ANNOTATION]: routingRejected ?? null,
        [PROBE_ANNOTATION]: probe || null,
        // the peers stop probing while the next agent on the node starts; its first renewal clears it
        [RESTARTING_ANNOTATION]: restarting,
      },
    },
    spec: { holderIdentity: opts.node, leaseDurationSeconds: durationS, renewTime },
  });

  /** Merge-patches the Lease, creating it when missing (null labels and annotations are left out of a
   * create); notes the labels it has now. */
  const upsert = async (b: ReturnType<typeof body>) => {
    const lease = await kc.patch<V1Lease>(leasePath, b, 'merge').catch(async (err: unknown) => {
      if (code(err) !== 404) throw err;
      return kc.create<V1Lease>(leases, {
        metadata: { ...b.metadata, labels: nonNull(b.metadata.labels), annotations: nonNull(b.metadata.annotations) },
        spec: { ...b.spec, acquireTime: b.spec.renewTime },
      });
    });
    leaseLabels = lease.metadata?.labels ?? {};
    // segment labels of subnets the node no longer has (left by an earlier agent on the node): removed at once
    if (Object.values(heartbeatLabels(subnets, leaseLabels)).includes(null)) publishChange();
  };

  const write = async (): Promise<boolean> => {
    const started = Date.now();
    try {
      await withTimeout(
        upsert(body(microTime(started))),
        durationMs - marginMs,
        `renewing Lease ${opts.namespace}/${name}`,
      ); // a later answer could not prevent fencing anyway
      if (stopped || suspended) return false;
      lastRenewed = started;
      if (fenceTimer) clearTimeout(fenceTimer);
      fenceTimer = setTimeout(() => setLive(false), Math.max(0, started + durationMs - marginMs - Date.now()));
      setLive(true);
      return true;
    } catch (err) {
      opts.onRenewFailure();
      opts.log.warn('heartbeat renewal failed', { lease: `${opts.namespace}/${name}`, error: err });
      return false;
    }
  };

  const renew = (): Promise<boolean> => {
    if (stopped || suspended) return Promise.resolve(false);
    if (!inFlight)
      inFlight = write().finally(() => {
        inFlight = undefined;
        if (changedInFlight) {
          changedInFlight = false;
          void renew();
        }
      });
    return inFlight;
  };

  const publishChange = () => {
    if (inFlight) changedInFlight = true;
    else void renew();
  };

  // Renewals start every renewMs measured from the previous start: a slow answer must not also delay the next try.
  const loop = (gen: number) => {
    if (stopped || suspended || gen !== generation) return;
    const started = Date.now();
    void renew().finally(() => {
      if (!stopped && !suspended && gen === generation)
        renewTimer = setTimeout(() => loop(gen), Math.max(0, started + opts.renewMs - Date.now()));
    });
  };

  const begin = async (): Promise<boolean> => {
    const gen = ++generation;
    clearTimeout(renewTimer);
    const ok = await renew();
    if (!stopped && !suspended && gen === generation) renewTimer = setTimeout(() => loop(gen), opts.renewMs);
    return ok;
  };

  /** One last write (after a renewal in flight, whose answer would undo it), bounded to 2 s; a failure
   * is logged with what the peers do instead. `tolerate` names an error code that counts as done. */
  const finalWrite = async (what: string, write: () => Promise<unknown>, failure: string, tolerate?: number) => {
    await inFlight;
    const lease = `${opts.namespace}/${name}`;
    try {
      await withTimeout(write(), 2000, `${what} Lease ${lease}`);
      return true;
    } catch (err) {
      if (tolerate !== undefined && code(err) === tolerate) return true;
      opts.log.warn(failure, { lease, error: err });
      return false;
    }
  };

  const release = () =>
    finalWrite(
      'deleting',
      () => kc.delete(leasePath),
      'could not delete heartbeat Lease; peers re-elect when it expires',
      404,
    );

  // expired already, so that agents that do not read the mark (an older version) re-elect at once too
  const markOutOfService = (reason: string) =>
    finalWrite(
      'marking out of service',
      () => {
        return upsert(body(microTime(Date.now() - durationMs - 1000), opts.durationS, reason));
      },
      'could not mark the heartbeat Lease out of service; peers re-elect when it expires',
    );

  return {
    start: begin,
    setSubnets(next) {
      if (next.join(',') === subnets.join(',')) return;
      subnets = [...next];
      publishChange();
    },
    setLabels(next) {
      if (formatLabels(next) === formatLabels(labels)) return;
      labels = { ...next };
      publishChange();
    },
    setRoutingRejected(next) {
      if (next === routingRejected) return;
      routingRejected = next;
      publishChange();
    },
    setProbeEndpoints(next) {
      if (next === probe) return;
      probe = next;
      publishChange();
    },
    self(now) {
      if (!live || stopped || now >= lastRenewed + durationMs - marginMs) return undefined;
      return {
        node: opts.node,
        subnets: subnets.map((s) => parseCIDR(s)).filter((c): c is CIDR => !!c),
        labels: { ...labels },
        expiresAt: lastRenewed + durationMs,
        renewedAt: lastRenewed,
        ...(routingRejected ? { routingRejected } : {}),
      };
    },
    suspend() {
      suspended = true;
      live = false; // deliberately silent: out of service is not fencing
      clearTimeout(renewTimer);
      clearTimeout(fenceTimer);
    },
    async resume() {
      if (stopped) return false;
      suspended = false;
      return begin();
    },
    markOutOfService,
    async stop(deleteLease) {
      stopped = true;
      live = false;
      clearTimeout(renewTimer);
      clearTimeout(fenceTimer);
      if (deleteLease) await release();
    },
    async stopForRestart(graceS) {
      stopped = true;
      live = false;
      clearTimeout(renewTimer);
      clearTimeout(fenceTimer);
      return finalWrite(
        'renewing for the restart',
        () => kc.patch(leasePath, body(microTime(), graceS, null, `for up to ${graceS}s`), 'merge'),
        'could not extend the heartbeat Lease for the restart; peers re-elect when it expires',
      );
    },
  };
}
