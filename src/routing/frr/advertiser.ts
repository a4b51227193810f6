// FRR backend: render -> `vtysh --dryrun -f` on a candidate -> install as <confDir>/frr.conf (previous
// kept as last-good) -> `frr-reload.py --reload`, which applies only the difference and keeps sessions.
// Side effects avoided: frr-reload runs `vtysh write` unless the file is exactly <confdir>/frr.conf (so we
// render there and pass --confdir), and it would flip `ip forwarding`/`hostname` to whatever the file
// says (so the running values of those lines are copied into the file before the reload).
import { join } from 'node:path';
import type { Logger } from '../../log.ts';
import type { ApplyResult, DaemonStatus, RouteAdvertiser, SessionStatus } from '../advertiser.ts';
import { advertisedPrefixes } from '../advertiser.ts';
import { installChecked, restoreLastGood, writeAtomic } from '../config-file.ts';
import { runTool, toolError, type ToolResult } from '../exec.ts';
import type { NodeRoutingInput } from '../render.ts';
import { keepPrevious, renderStep } from '../config-step.ts';

export interface FrrOptions {
  /** Directory of frr.conf and vtysh.conf (default /etc/frr). */
  confDir: string;
  /** Directory of the daemons' vty sockets, when not the default /var/run/frr. */
  vtySocket?: string;
  vtysh?: string;
  reloadScript?: string;
  log: Logger;
}

/** Offline syntax check by vtysh itself (exit 0 = valid; errors on stderr). */
export const frrDryRun = (file: string, vtysh = 'vtysh'): Promise<ToolResult> =>
  runTool(vtysh, ['--dryrun', '-f', file]);

/** Lines of the running config that describe host state rather than routing; mirrored, never changed. */
export function hostStateLines(running: string): string[] {
  return running
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => /^(no )?(ip|ipv6) forwarding$|^hostname \S+$/.test(l));
}

export class FrrAdvertiser implements RouteAdvertiser {
  readonly daemon = 'frr' as const;
  readonly #opts: FrrOptions;
  #applied?: string;
  #kubeInterface = 'kube-lb0';

  constructor(opts: FrrOptions) {
    this.#opts = opts;
  }

  get configPath(): string {
    return join(this.#opts.confDir, 'frr.conf');
  }

  #vtysh(args: string[]): Promise<ToolResult> {
    const sock = this.#opts.vtySocket ? ['--vty_socket', this.#opts.vtySocket] : [];
    return runTool(this.#opts.vtysh ?? 'vtysh', [...sock, ...args]);
  }

  async #show<T>(command: string): Promise<T> {
    const r = await this.#vtysh(['-c', command]);
    if (r.code !== 0) throw new Error(`vtysh -c "${command}": ${toolError(r)}`);
    return JSON.parse(r.stdout || '{}') as T;
  }

  #reload(): Promise<ToolResult> {
    const o = this.#opts;
    return runTool(
      o.reloadScript ?? '/usr/lib/frr/frr-reload.py',
      [
        '--reload',
        '--stdout',
        '--confdir',
        o.confDir,
        '--rundir',
        o.confDir,
        ...(o.vtySocket ? ['--vty_socket', o.vtySocket] : []),
        this.configPath,
      ],
      120_000,
    );
  }

  async apply(input: NodeRoutingInput): Promise<ApplyResult> {
    this.#kubeInterface = input.kubeInterface;
    const step = renderStep(input, this.#applied, this.#opts.log, 'FRR');
    if ('done' in step) return step.done;
    const { rendered } = step;
    const candidate = join(this.#opts.confDir, 'frr.conf.candidate');
    const running = await this.#vtysh(['-c', 'show running-config']);
    if (running.code !== 0) return this.#keep('Failed', `FRR is not reachable: ${toolError(running)}`);
    writeAtomic(candidate, [rendered.text, ...hostStateLines(running.stdout), ''].join('\n'));
    const check = await frrDryRun(candidate, this.#opts.vtysh);
    if (check.code !== 0)
      return this.#keep('Rejected', `vtysh --dryrun rejected the rendered config: ${toolError(check)}`);
    installChecked(candidate, this.configPath);
    const reload = await this.#reload();
    if (reload.code !== 0) {
      // frr-reload may have applied part of the delta: reload the previous file to undo it
      if (restoreLastGood(this.configPath)) await this.#reload();
      return this.#keep('Failed', `frr-reload.py failed: ${toolError(reload)}`);
    }
    this.#applied = rendered.hash;
    this.#opts.log.info('FRR reloaded', { hash: rendered.hash });
    return { result: 'Applied', hash: rendered.hash };
  }

  #keep(result: 'Rejected' | 'Failed', error: string): ApplyResult {
    return keepPrevious(this.#opts.log, 'FRR', this.#applied, result, error);
  }

  async setAddresses(): Promise<void> {
    // redistribute connected / passive interface follow kube-lb0
  }

  /** JSON of a show command, or undefined when the daemon behind it is not running (e.g. bgpd with OSPF). */
  async #tryShow<T>(command: string): Promise<T | undefined> {
    const r = await this.#vtysh(['-c', command]);
    return r.code === 0 && r.stdout.trim().startsWith('{') ? (JSON.parse(r.stdout) as T) : undefined;
  }

  async status(): Promise<DaemonStatus> {
    const sessions: SessionStatus[] = [];
    const bgp =
      await this.#tryShow<Record<string, { peers?: Record<string, { state?: string; pfxSnt?: number }> }>>(
        'show bgp summary json',
      );
    for (const af of Object.values(bgp ?? {})) {
      for (const [peer, p] of Object.entries(af.peers ?? {})) {
        if (!sessions.some((s) => s.name === peer))
          sessions.push({ name: peer, state: p.state ?? 'Unknown', info: `pfxSnt ${p.pfxSnt ?? 0}` });
      }
    }
    type Ospf4 = { neighbors?: Record<string, Array<{ nbrState?: string; ifaceName?: string }>> };
    for (const [id, list] of Object.entries(
      (await this.#tryShow<Ospf4>('show ip ospf neighbor json'))?.neighbors ?? {},
    )) {
      for (const n of list) sessions.push({ name: `ospf ${id}`, state: n.nbrState ?? '', info: n.ifaceName ?? '' });
    }
    type Ospf6 = { neighbors?: Array<{ neighborId?: string; state?: string; interfaceName?: string }> };
    for (const n of (await this.#tryShow<Ospf6>('show ipv6 ospf6 neighbor json'))?.neighbors ?? []) {
      sessions.push({ name: `ospf6 ${n.neighborId ?? ''}`, state: n.state ?? '', info: n.interfaceName ?? '' });
    }
    const iface = await this.#show<Record<string, { ipAddresses?: Array<{ address?: string }> }>>(
      `show interface ${this.#kubeInterface} json`,
    );
    const addrs = Object.values(iface).flatMap((i) => (i.ipAddresses ?? []).map((a) => a.address ?? ''));
    return { sessions, advertised: advertisedPrefixes(addrs) };
  }

  async close(): Promise<void> {}
}
