// Keeps the local addresses this agent holds from expiring. They go in with a short valid lifetime
// (--local-address-lifetime, 9 s), and every third of it (3 s) one `ip -batch` of `address change` lines
// restarts that lifetime in place: nothing is removed, nothing is announced. An agent killed with
// SIGKILL renews nothing, so the addresses it held leave its node within one lifetime by themselves
// (plus up to a second: the kernel checks lifetimes about once a second), 10 s with the default.
// The renewal runs beside the reconcile, not as part of it: a reconcile reads and decides everything
// (about a second at 10,000 Services), a renewal only writes this node's own local addresses.
// Where the kernel needs longer than a third of the lifetime to renew them all (thousands of IPv6
// addresses on one node), the lifetime in use rises to three times that time, loudly: a living owner
// must not lose its addresses, and the bound on a dead agent's addresses is then what the kernel allows.
import type { Logger } from '../log.ts';
import type { NetworkAdapter } from './iproute.ts';
import { renewalLine, type HeldAddress } from './plan.ts';

export interface RenewalOptions {
  /** Valid lifetime of local addresses in seconds; 0 = permanent (nothing to renew). */
  lifetimeS: number;
  net: NetworkAdapter;
  /** The local addresses this node holds now (the last reconcile's, updated inside exclusive()). */
  held(): readonly HeldAddress[];
  /** False while this node does not count itself a candidate (fenced): its addresses are left to expire. */
  live(): boolean;
  log: Logger;
  /** A renewal line the kernel refused. */
  onFailure(): void;
}

/** Renew every third of the lifetime: two renewals in a row may fail before an address expires. */
export const renewalPeriodMs = (lifetimeS: number) => Math.round((lifetimeS * 1000) / 3);

export class LifetimeRenewal {
  readonly #o: RenewalOptions;
  /** Every kernel write of the agent, chained: a renewal never runs beside a batch that withdraws. */
  #tail: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  #lifetimeS: number;

  constructor(options: RenewalOptions) {
    this.#o = options;
    this.#lifetimeS = options.lifetimeS;
  }

  /** The lifetime in use, in seconds: the configured one unless renewals are slower than a third of it. */
  get lifetimeS(): number {
    return this.#lifetimeS;
  }

  /**
   * Runs `write` (a reconcile's batch and its update of the held addresses) with no renewal in flight,
   * so a renewal cannot put back an address the batch withdraws (`address change` adds a missing one).
   */
  exclusive<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(write);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Renews at once (addresses a previous agent left may have little lifetime left), then periodically. */
  start(): void {
    if (this.#o.lifetimeS <= 0) return;
    void this.#tick();
    this.#schedule();
  }

  #schedule(): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.#tick(), renewalPeriodMs(this.#lifetimeS));
  }

  /**
   * Stops renewing and waits for a renewal in flight. With `keepS` (a restart grace whose Lease
   * extension succeeded), one last renewal makes the held addresses expire when that Lease does: the
   * next agent on the node finds them in place, and if none comes they leave as the peers re-elect.
   */
  async stop(keepS = 0): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.exclusive(async () => {
      if (this.#o.lifetimeS > 0 && keepS > 0) await this.#renew(keepS);
    });
  }

  /** One renewal of every held address, unless one is still running or the node is fenced. */
  async #tick(): Promise<void> {
    if (this.#running) return; // a slow kernel: the next tick renews, well within the lifetime
    this.#running = true;
    try {
      const ms = await this.exclusive(() => (this.#o.live() ? this.#renew(this.#lifetimeS) : Promise.resolve(0)));
      if (!this.#stopped) this.#adapt(ms);
    } finally {
      this.#running = false;
    }
  }

  /**
   * Raises the lifetime in use to three times the renewal's duration when the renewal took longer than
   * a third of it, and returns to the configured one once a renewal fits in a third of that again.
   */
  #adapt(ms: number): void {
    const needed = Math.ceil((3 * ms) / 1000);
    const next = needed > this.#lifetimeS ? needed : needed <= this.#o.lifetimeS ? this.#o.lifetimeS : this.#lifetimeS;
    if (next === this.#lifetimeS) return;
    const fields = { addresses: this.#o.held().length, renewalMs: ms, lifetimeSeconds: next };
    if (next > this.#o.lifetimeS)
      this.#o.log.warn(
        'renewing the local addresses takes longer than a third of their lifetime: the lifetime in use is raised, and with it the time a dead agent leaves them on its node',
        {
          ...fields,
          fix: 'raise --local-address-lifetime to at least this on nodes that hold this many local addresses',
        },
      );
    else this.#o.log.info('local address renewals are fast again: back to --local-address-lifetime', fields);
    this.#lifetimeS = next;
    this.#schedule();
  }

  /** Renews every held address; resolves with the milliseconds the kernel took. */
  async #renew(lifetimeS: number): Promise<number> {
    const held = this.#o.held();
    if (held.length === 0) return 0;
    const started = Date.now();
    try {
      const { failed } = await this.#o.net.applyBatch(held.map((a) => renewalLine(a, lifetimeS)));
      for (const f of failed) {
        const a = held[f.line - 1];
        this.#o.onFailure();
        this.#o.log.error('kernel refused a local address lifetime renewal; the address expires unless it succeeds', {
          address: a && `${a.ip}/${a.prefix}`,
          interface: a?.ifname,
          error: f.message,
        });
      }
    } catch (err) {
      this.#o.onFailure();
      this.#o.log.error('could not renew local address lifetimes; they expire unless the next renewal succeeds', {
        addresses: held.length,
        error: err,
      });
    }
    return Date.now() - started;
  }
}
