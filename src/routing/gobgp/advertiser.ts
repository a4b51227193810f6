// GoBGP backend: gobgpd keeps no configuration of its own here; the agent drives it over gRPC
// (StartBgp, the import policy, AddPeer/DeletePeer, paths via AddPathStream) and reconciles against
// what gobgpd reports (GetBgp, ListPeer, ListPath). gobgpd loses everything when it restarts, so a
// watchdog polls GetBgp and re-applies everything when the global config is gone.
// gobgpd outlives the agent (its own DaemonSet, deploy/gobgp): a new agent process finds it running with
// the previous agent's peers and paths and must not disturb them. So BGP is restarted only when the
// global settings differ, unchanged peers are kept, and paths are reconciled against ListPath (missing
// ones added, extra ones withdrawn, ones with other attributes re-sent): an identical state sends
// nothing. Until the agent has reported its addresses once (after its caches synced), paths are left
// exactly as gobgpd has them.
import PQueue from 'p-queue';
import type { Logger } from '../../log.ts';
import { advertisedPrefixes, type ApplyResult, type DaemonStatus, type RouteAdvertiser } from '../advertiser.ts';
import { checkInput, configHash, RenderError, routerID, type NodeRoutingInput } from '../render.ts';
import { GobgpClient } from './client.ts';
import {
  ACCEPT_LOCAL_POLICY,
  attributesKey,
  globalConfig,
  gobgpCallPlan,
  importAssignment,
  listedPathAttributes,
  pathMessage,
  prefixAttributes,
  peerFingerprint,
  peerMessage,
  V4,
  V6,
  wantedPathAttributes,
} from './messages.ts';
import type { BgpConfig } from '../../api/validate-routerconfig.ts';
import { routeAttributes, type AddressServices } from '../attributes.ts';

export interface GobgpOptions {
  /** gRPC target, e.g. unix:///run/purelb/gobgp/gobgp.sock */
  target: string;
  log: Logger;
  watchIntervalMs?: number;
}

interface Desired {
  asn: number;
  routerID: string;
  bgp: BgpConfig;
  passwords: Record<string, string>;
  hash: string;
}

interface ListedPeer {
  peer?: {
    conf?: { neighbor_address?: string; description?: string };
    state?: { session_state?: string; neighbor_address?: string };
    afi_safis?: Array<{ state?: { advertised?: string } }>;
  };
}
interface ListedPath {
  destination?: {
    prefix?: string;
    paths?: Array<{ is_from_external?: boolean; pattrs?: Array<Record<string, unknown>> }>;
  };
}
interface ListedAssignment {
  assignment?: { policies?: Array<{ name?: string }>; default_action?: string };
}

export class GobgpAdvertiser implements RouteAdvertiser {
  readonly daemon = 'gobgp' as const;
  readonly #client: GobgpClient;
  readonly #log: Logger;
  readonly #queue = new PQueue({ concurrency: 1 });
  readonly #timer: NodeJS.Timeout;
  #desired?: Desired;
  #applied?: string;
  /** advertised prefixes of the node; undefined until the agent reported them (paths are then left alone) */
  #addresses?: string[];
  /** the Services behind each address, for spec.bgp.advertisements */
  #services: AddressServices = {};
  /** set when a reconcile failed or gobgpd restarted: the watchdog reconciles fully */
  #dirty = false;

  constructor(opts: GobgpOptions) {
    this.#client = new GobgpClient(opts.target);
    this.#log = opts.log;
    this.#timer = setInterval(() => void this.#watch(), opts.watchIntervalMs ?? 2000);
  }

  async apply(input: NodeRoutingInput): Promise<ApplyResult> {
    let desired: Desired;
    try {
      checkInput(input);
      const bgp = input.config.bgp;
      if (input.config.daemon !== 'gobgp' || !bgp)
        throw new RenderError('the GoBGP backend needs daemon gobgp with protocol bgp');
      for (const p of bgp.peers) {
        if (p.passwordSecretRef && input.passwords[p.address] === undefined)
          throw new RenderError(`password of peer ${p.address} is not available`);
      }
      const id = routerID(input);
      desired = { asn: bgp.localASN, routerID: id, bgp, passwords: input.passwords, hash: '' };
      desired.hash = configHash(
        JSON.stringify({
          ...globalConfig(bgp.localASN, id),
          peers: bgp.peers.map((p) => peerFingerprint(p, bgp.localASN, input.passwords[p.address])),
          a: attributesKey(bgp),
        }),
      );
    } catch (err) {
      if (!(err instanceof RenderError)) throw err;
      return { result: 'Rejected', error: err.message, ...(this.#applied ? { hash: this.#applied } : {}) };
    }
    if (desired.hash === this.#applied && !this.#dirty) return { result: 'Unchanged', hash: desired.hash };
    this.#desired = desired;
    try {
      await this.#queue.add(() => this.#reconcile());
    } catch (err) {
      return { result: 'Failed', error: (err as Error).message, ...(this.#applied ? { hash: this.#applied } : {}) };
    }
    this.#applied = desired.hash;
    return { result: 'Applied', hash: desired.hash };
  }

  async setAddresses(cidrs: string[], services: AddressServices = {}): Promise<void> {
    this.#addresses = advertisedPrefixes(cidrs);
    this.#services = services;
    if (!this.#desired) return;
    // coalesce bursts: one pending reconcile reads the latest addresses when it starts
    if (this.#queue.size > 0) return this.#queue.onIdle();
    try {
      await this.#queue.add(() => this.#reconcilePaths(this.#desired!));
    } catch (err) {
      this.#dirty = true;
      this.#log.warn('GoBGP path update failed; the watchdog retries', { error: err });
    }
  }

  async #watch(): Promise<void> {
    if (!this.#desired || this.#queue.size > 0 || this.#queue.pending > 0) return;
    try {
      const { global } = await this.#client.call<{ global?: { asn?: number } }>('GetBgp');
      if (!global?.asn) {
        this.#log.warn('gobgpd has no global config (it restarted): re-applying everything');
        this.#dirty = true;
      }
      if (this.#dirty) await this.#queue.add(() => this.#reconcile());
    } catch (err) {
      this.#dirty = true;
      this.#log.debug('gobgpd not reachable', { error: err });
    }
  }

  async #reconcile(): Promise<void> {
    const d = this.#desired!;
    const c = this.#client;
    const { global } = await c.call<{ global?: { asn?: number; router_id?: string } }>('GetBgp');
    if (global?.asn && (global.asn !== d.asn || global.router_id !== d.routerID)) {
      this.#log.info('GoBGP global config changed: restarting BGP', { asn: d.asn, routerID: d.routerID });
      await c.call('StopBgp');
    }
    if (!global?.asn || global.asn !== d.asn || global.router_id !== d.routerID) {
      // the first three calls of the plan (global, policy, assignment); peers and paths follow below
      for (const { method, request } of gobgpCallPlan(d.bgp, d.routerID, d.passwords, []).slice(0, 3))
        await c.call(method, request);
    } else {
      await this.#ensureImportPolicy();
    }
    const listed = await c.list<ListedPeer>('ListPeer', { address: '' });
    const current = new Map(listed.map((l) => [l.peer?.conf?.neighbor_address ?? '', l.peer?.conf?.description ?? '']));
    const wanted = new Set(d.bgp.peers.map((p) => p.address));
    for (const [address] of current) {
      if (!wanted.has(address)) await c.call('DeletePeer', { address });
    }
    for (const p of d.bgp.peers) {
      const password = d.passwords[p.address];
      const have = current.get(p.address);
      if (have === peerFingerprint(p, d.asn, password)) continue; // unchanged peers keep their session
      if (have !== undefined) await c.call('DeletePeer', { address: p.address });
      await c.call('AddPeer', { peer: peerMessage(p, d.asn, password) });
    }
    await this.#reconcilePaths(d);
    this.#dirty = false;
  }

  /** A gobgpd that already runs our global settings (a restarted agent, or a reconcile after a failure
   * half-way) keeps them; only a missing import policy or assignment is put back. */
  async #ensureImportPolicy(): Promise<void> {
    const c = this.#client;
    const assigned = await c.list<ListedAssignment>('ListPolicyAssignment', { name: 'global', direction: 'IMPORT' });
    if (
      assigned.some(
        (a) =>
          a.assignment?.default_action === 'REJECT' &&
          a.assignment.policies?.some((p) => p.name === ACCEPT_LOCAL_POLICY.name),
      )
    )
      return;
    this.#log.warn('gobgpd runs without the import policy: adding it');
    const policies = await c.list<{ policy?: { name?: string } }>('ListPolicy', {}).catch(() => []);
    if (!policies.some((p) => p.policy?.name === ACCEPT_LOCAL_POLICY.name))
      await c.call('AddPolicy', { policy: ACCEPT_LOCAL_POLICY });
    await c.call('SetPolicyAssignment', { assignment: importAssignment() });
  }

  /** Local paths in gobgpd's global RIB: canonical prefix -> attributes key (listedPathAttributes). */
  async #localPaths(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const family of [V4, V6]) {
      for (const r of await this.#client.list<ListedPath>('ListPath', { table_type: 'GLOBAL', family })) {
        const local = r.destination?.paths?.find((p) => !p.is_from_external);
        const prefix = advertisedPrefixes([r.destination?.prefix ?? ''])[0];
        if (local && prefix) out.set(prefix, listedPathAttributes(local.pattrs));
      }
    }
    return out;
  }

  async #advertised(): Promise<string[]> {
    return [...(await this.#localPaths()).keys()].sort();
  }

  async #reconcilePaths(d: Desired): Promise<void> {
    if (!this.#addresses) {
      this.#log.debug('addresses not reported yet: GoBGP paths left as they are');
      return;
    }
    const present = await this.#localPaths();
    const attrs = prefixAttributes(d.bgp, this.#addresses, this.#services);
    // same prefix with the same attributes: nothing is sent, so the peers see no UPDATE at all
    const add = [...attrs].filter(([p, a]) => present.get(p) !== wantedPathAttributes(a));
    const del = [...present.keys()].filter((p) => !attrs.has(p));
    if (!add.length && !del.length) return;
    const noAttributes = routeAttributes(d.bgp);
    const paths = [
      ...add.map(([p, a]) => pathMessage(p, a, d.asn)),
      ...del.map((p) => pathMessage(p, noAttributes, d.asn, true)),
    ];
    for (let i = 0; i < paths.length; i += 1000) {
      await this.#client.send('AddPathStream', [{ table_type: 'GLOBAL', paths: paths.slice(i, i + 1000) }]);
    }
    this.#log.debug('GoBGP paths reconciled', { added: add.length, withdrawn: del.length });
  }

  async status(): Promise<DaemonStatus> {
    const peers = await this.#client.list<ListedPeer>('ListPeer', { address: '' });
    const sessions = peers.map((l) => ({
      name: l.peer?.conf?.neighbor_address ?? '',
      state: (l.peer?.state?.session_state ?? 'UNKNOWN').toLowerCase().replace(/^./, (x) => x.toUpperCase()),
    }));
    return { sessions, advertised: await this.#advertised() };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#queue.onIdle();
    this.#client.close();
  }
}
