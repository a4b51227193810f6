// The successor's LAN probe of an owner's agent: GET PROBE_PATH on the owner's published endpoint every
// interval, over one kept-alive connection per owner. An owner that has not answered 200 for deadAfter
// (refused, timed out, or 503 = not a candidate) is reported dead on every further failed probe, so the
// caller can retry a claim that met a conflict. Liveness comes from the LAN, not from API writes: the
// heartbeat Lease can then renew every 10 s and still a dead owner is replaced in about a second.
// A probe that is refused, reset or answered 503 is proof that the owner's agent is not serving; one that
// times out is not (a busy or CPU-starved agent answers late): an owner that only times out is reported
// after TIMEOUT_FACTOR times the dead-after time, so a slow owner keeps its addresses while a crashed
// agent is replaced fast. A whole node that went down also times out, and is replaced that much later.
// A refused connection (the node is up and nothing listens on the port: the agent process is gone, killed
// or crashed) is the strongest proof, and such an owner is reported after REFUSED_FACTOR of the dead-after
// time: at least two refused probes at the default interval, about half a second sooner.
// An owner that answers 503 with PROBE_RELEASED (stopping, its local addresses withdrawn) is reported
// at once; one that answers PROBE_STOPPING (withdrawing) is asked again after PROBE_STOPPING_INTERVAL_MS
// instead of the interval, so its successor hears the release within a few milliseconds. A stopping
// owner that released its addresses also tells each successor (RELEASED_HINT_PATH), which then probes
// it at once instead of at its next round. Only an owner that answered this node before can be
// reported otherwise: where the probe port is filtered (both ways or one way) nothing is reported, so
// two nodes never claim an address back and forth; the address then moves when the owner's Lease
// expires, as without probes.
import type { Agent } from 'node:http';
import { http } from '../node-http.ts';
import { formatIP } from '../api/ip.ts';
import type { Logger } from '../log.ts';
import {
  formatProbeEndpoints,
  PROBE_PATH,
  PROBE_RELEASED,
  PROBE_STOPPING,
  RELEASED_HINT_PATH,
  type ProbeEndpoint,
} from '../model/heartbeat.ts';

export interface OwnerProbe {
  /** The owners to probe now, with their endpoints; others stop being probed. */
  watch(owners: ReadonlyMap<string, ProbeEndpoint>): void;
  /** `owner` says it released its addresses (RELEASED_HINT_PATH): probe it now if it is watched. */
  probeNow(owner: string): boolean;
  /** This node (`node`) released its local addresses: ask their successors to probe it now. Works after stop(). */
  tellReleased(node: string, successors: readonly ProbeEndpoint[]): void;
  stop(): void;
}

export interface OwnerProbeOptions {
  intervalMs: number;
  deadAfterMs: number;
  /** `released`: the owner said it withdrew its local addresses (PROBE_RELEASED); `refused`: nothing
   * listens on its port (its agent is gone); `probe`: it answered nothing or not 200 for the dead-after time. */
  onDead(owner: string, cause: DeadCause): void;
  /** The owner answers 200 again after it was reported dead. */
  onBack(owner: string): void;
  log: Logger;
}

export interface Probed {
  endpoint: string;
  host: string;
  port: number;
  lastOk: number;
  /** It answered 200 at least once since it was watched: the LAN path works. */
  answered: boolean;
  dead: boolean;
  timer?: NodeJS.Timeout;
  stopped: boolean;
  /** When the last round started; a round is in flight while `asking`, and `again` runs the next at once. */
  startedAt: number;
  asking: boolean;
  again: boolean;
}

export type DeadCause = 'released' | 'refused' | 'probe';

/** An owner whose probes only time out is reported after this many dead-after times. */
export const TIMEOUT_FACTOR = 3;

/** An owner whose probes are refused (no agent listens on its node) is reported after this part of the
 * dead-after time. */
export const REFUSED_FACTOR = 0.5;

/** How soon an owner that answered PROBE_STOPPING is asked again; also the least time between two
 * rounds that released hints (RELEASED_HINT_PATH) start. */
export const PROBE_STOPPING_INTERVAL_MS = 20;

/** A released hint that gets no answer within this is given up: the successor's own probe hears it next. */
const HINT_TIMEOUT_MS = 500;

const endpointText = (e: ProbeEndpoint) => formatProbeEndpoints([e]);

/** What went wrong with one probe; `timedOut`: no answer at all, which a busy owner gives too; `refused`:
 * nothing listens on the owner's port; `released`: the owner is stopping and has withdrawn its local
 * addresses (take over now); `stopping`: it is withdrawing them. */
export interface Failure {
  error: string;
  timedOut: boolean;
  refused?: boolean;
  released?: boolean;
  stopping?: boolean;
}

/**
 * One probe: undefined when the owner answered 200. The timeout gives up only after the event loop has
 * read what arrived meanwhile (setImmediate runs after the poll phase): a prober busy for longer than
 * the timeout (a reconcile over 10,000 Services) would otherwise see its timer fire before the answer
 * that is waiting on the socket, and take a live owner for a dead one.
 */
function ask(agent: Agent, p: Probed, timeoutMs: number): Promise<Failure | undefined> {
  return new Promise((resolve) => {
    let timedOut = false;
    let answered = false;
    const req = http.request({ host: p.host, port: p.port, path: PROBE_PATH, agent }, (res) => {
      answered = true;
      clearTimeout(timer);
      if (res.statusCode === 200) {
        res.resume();
        return resolve(undefined);
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 200)));
      const failed = () =>
        resolve({
          error: `answered ${res.statusCode}${body.trim() ? ` (${body.trim()})` : ''}`,
          timedOut: false,
          released: body.startsWith(PROBE_RELEASED),
          stopping: body.startsWith(PROBE_STOPPING),
        });
      res.on('end', failed);
      res.on('error', failed);
    });
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (answered) return;
          timedOut = true;
          req.destroy(new Error('probe timed out'));
        }),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      resolve(
        timedOut
          ? { error: `no answer within ${timeoutMs} ms`, timedOut: true }
          : { error: err.message, timedOut: false, refused: (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' },
      );
    });
    req.end();
  });
}

/** What one probe's result means (and records it): the owner is back, dead (report it), silent since it
 * was first watched (warn once), or nothing new. */
export function recordProbe(p: Probed, failure: Failure | undefined, now: number, deadAfterMs: number) {
  const wasDead = p.dead;
  if (!failure) {
    p.lastOk = now;
    p.answered = true;
    p.dead = false;
    return wasDead ? 'back' : undefined;
  }
  const factor = failure.timedOut ? TIMEOUT_FACTOR : failure.refused ? REFUSED_FACTOR : 1;
  p.dead = failure.released || now - p.lastOk >= deadAfterMs * factor;
  if (!p.dead) return undefined;
  if (p.answered || failure.released) return 'dead';
  return wasDead ? undefined : 'never answered';
}

/** Milliseconds until the next probe of a round that started at `started`. */
const untilNextRound = (failure: Failure | undefined, started: number, intervalMs: number, hinted: boolean) =>
  Math.max(0, started + (failure?.stopping || hinted ? PROBE_STOPPING_INTERVAL_MS : intervalMs) - Date.now());

/** One released hint to a successor; its answer does not matter (the probe it triggers does). */
function hint(node: string, e: ProbeEndpoint, log: Logger): void {
  const path = `${RELEASED_HINT_PATH}?owner=${encodeURIComponent(node)}`;
  const req = http.request({ host: formatIP(e.ip), port: e.port, path, method: 'POST', agent: false }, (res) =>
    res.resume(),
  );
  req.setTimeout(HINT_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${HINT_TIMEOUT_MS} ms`)));
  req.on('error', (err) => log.debug('successor not told of the release', { endpoint: endpointText(e), error: err }));
  req.end();
}

/** Records one probe's result and reports what it means to the caller (and the log). */
function reportRound(opts: OwnerProbeOptions, owner: string, p: Probed, failure: Failure | undefined): void {
  const wasDead = p.dead;
  const now = Date.now();
  const fields = { owner, endpoint: p.endpoint };
  switch (recordProbe(p, failure, now, opts.deadAfterMs)) {
    case 'back':
      opts.log.info('owner answers on the LAN again', fields);
      opts.onBack(owner);
      break;
    case 'never answered':
      opts.log.warn('owner never answered on the LAN: its local addresses move only when its heartbeat Lease expires', {
        ...fields,
        error: failure?.error,
        fix: `let this node reach ${p.endpoint} (the agent's health port) over the LAN`,
      });
      break;
    case 'dead':
      if (!wasDead)
        opts.log.warn('owner does not answer on the LAN: taking over its local addresses', {
          ...fields,
          silentMs: now - p.lastOk,
          error: failure?.error,
        });
      opts.onDead(owner, failure?.released ? 'released' : failure?.refused ? 'refused' : 'probe');
  }
}

export const unprobed = (e: ProbeEndpoint): Probed => ({
  endpoint: endpointText(e),
  host: formatIP(e.ip),
  port: e.port,
  lastOk: Date.now(),
  answered: false,
  dead: false,
  stopped: false,
  startedAt: 0,
  asking: false,
  again: false,
});

export function startOwnerProbe(opts: OwnerProbeOptions): OwnerProbe {
  // one socket per owner, reused: a probe every 250 ms costs no handshake, and a dead agent's socket
  // fails at once (reset, then refused)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const probed = new Map<string, Probed>();
  const timeoutMs = Math.max(100, Math.min(opts.deadAfterMs / 2, 1000));

  const round = async (owner: string, p: Probed) => {
    if (p.stopped) return;
    p.startedAt = Date.now();
    p.asking = true;
    const failure = await ask(agent, p, timeoutMs);
    p.asking = false;
    if (p.stopped) return;
    reportRound(opts, owner, p, failure);
    const hinted = p.again;
    p.again = false;
    p.timer = setTimeout(() => void round(owner, p), untilNextRound(failure, p.startedAt, opts.intervalMs, hinted));
  };

  const drop = (owner: string) => {
    const p = probed.get(owner);
    if (!p) return;
    p.stopped = true;
    clearTimeout(p.timer);
    probed.delete(owner);
  };

  return {
    watch(owners) {
      for (const owner of [...probed.keys()])
        if (probed.get(owner)!.endpoint !== (owners.get(owner) && endpointText(owners.get(owner)!))) drop(owner);
      for (const [owner, e] of owners) {
        if (probed.has(owner)) continue;
        const p = unprobed(e);
        probed.set(owner, p);
        void round(owner, p);
      }
    },
    probeNow(owner) {
      const p = probed.get(owner);
      if (!p) return false;
      if (p.asking) p.again = true;
      else {
        clearTimeout(p.timer);
        const wait = Math.max(0, p.startedAt + PROBE_STOPPING_INTERVAL_MS - Date.now());
        p.timer = setTimeout(() => void round(owner, p), wait);
      }
      return true;
    },
    tellReleased(node, successors) {
      for (const e of successors) hint(node, e, opts.log);
    },
    stop() {
      for (const owner of [...probed.keys()]) drop(owner);
      agent.destroy();
    },
  };
}
