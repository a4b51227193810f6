// BIRD backend: render -> atomic write of a candidate -> `bird -p -c` -> install (previous file kept as
// last-good) -> `configure` over the control socket. Addresses need no reload: `protocol direct` learns
// them from kube-lb0.
import { join } from 'node:path';
import type { Logger } from '../../log.ts';
import type { ApplyResult, DaemonStatus, RouteAdvertiser, SessionStatus } from '../advertiser.ts';
import { advertisedPrefixes } from '../advertiser.ts';
import { installChecked, restoreLastGood, writeAtomic } from '../config-file.ts';
import { runTool, toolError, type ToolResult } from '../exec.ts';
import type { NodeRoutingInput } from '../render.ts';
import { keepPrevious, renderStep } from '../config-step.ts';
import { birdCommand, isBirdError, replyText } from './control.ts';

export interface BirdOptions {
  /** Directory shared with the BIRD container; bird.conf lives here. */
  configDir: string;
  socketPath: string;
  birdBinary?: string;
  log: Logger;
}

/** Offline parse check by the bird binary itself (exit 0 = valid). */
export const birdParseCheck = (file: string, birdBinary = 'bird'): Promise<ToolResult> =>
  runTool(birdBinary, ['-p', '-c', file]);

/** Rows of `show protocols`: name proto table state since info... */
export function parseProtocols(lines: string[]): Array<{ name: string; proto: string; state: string; info: string }> {
  return lines.flatMap((l) => {
    const f = l.trim().split(/\s+/);
    if (f.length < 5 || f[0] === 'Name') return [];
    return [{ name: f[0]!, proto: f[1]!, state: f[3]!, info: f.slice(5).join(' ') }];
  });
}

/** Rows of `show ospf neighbors <proto>` (after the "<proto>:" and heading lines):
 * Router-ID Pri State DTime Interface Router-IP */
export function parseOspfNeighbors(protocol: string, lines: string[]): SessionStatus[] {
  return lines.flatMap((l) => {
    const f = l.trim().split(/\s+/);
    if (!f[0] || f[0] === 'Router' || f[0].endsWith(':')) return [];
    return [{ name: `${protocol} ${f[0]}`, state: f[2] ?? '', info: `${f[4] ?? ''} ${f[5] ?? ''}`.trim() }];
  });
}

export class BirdAdvertiser implements RouteAdvertiser {
  readonly daemon = 'bird' as const;
  readonly #opts: BirdOptions;
  #applied?: string;
  /** peer addresses of the applied config, in order: BIRD names the sessions peer_1, peer_2 ... */
  #peers: string[] = [];

  constructor(opts: BirdOptions) {
    this.#opts = opts;
  }

  get configPath(): string {
    return join(this.#opts.configDir, 'bird.conf');
  }

  async apply(input: NodeRoutingInput): Promise<ApplyResult> {
    const step = renderStep(input, this.#applied, this.#opts.log, 'BIRD');
    if ('done' in step) return step.done;
    const { rendered } = step;
    const candidate = join(this.#opts.configDir, 'bird.conf.candidate');
    writeAtomic(candidate, rendered.text);
    const check = await birdParseCheck(candidate, this.#opts.birdBinary);
    if (check.code !== 0) return this.#keep('Rejected', `bird -p rejected the rendered config: ${toolError(check)}`);
    installChecked(candidate, this.configPath);
    let reply;
    try {
      reply = await birdCommand(this.#opts.socketPath, `configure "${this.configPath}"`);
    } catch (err) {
      // the file is valid and in place: BIRD loads it when it (re)starts; the next reconcile retries
      return this.#keep('Failed', `config written, but BIRD did not take it: ${(err as Error).message}`);
    }
    if (isBirdError(reply.code)) {
      restoreLastGood(this.configPath);
      return this.#keep('Failed', `BIRD refused the config (${reply.code}): ${replyText(reply)}`);
    }
    this.#applied = rendered.hash;
    this.#peers = input.config.bgp?.peers.map((p) => p.address) ?? [];
    this.#opts.log.info('BIRD reconfigured', { hash: rendered.hash, reply: replyText(reply) });
    return { result: 'Applied', hash: rendered.hash };
  }

  #keep(result: 'Rejected' | 'Failed', error: string): ApplyResult {
    return keepPrevious(this.#opts.log, 'BIRD', this.#applied, result, error);
  }

  async setAddresses(): Promise<void> {
    // protocol direct follows kube-lb0
  }

  async status(): Promise<DaemonStatus> {
    const sock = this.#opts.socketPath;
    const protocols = parseProtocols(
      (await birdCommand(sock, 'show protocols')).lines.filter((l) => l.code === 1002).map((l) => l.text),
    );
    const sessions: SessionStatus[] = [];
    for (const p of protocols) {
      if (p.proto === 'BGP') {
        const address = this.#peers[Number(/^peer_(\d+)$/.exec(p.name)?.[1] ?? 0) - 1];
        sessions.push({
          name: address ?? p.name,
          state: p.info.split(' ')[0] || p.state,
          info: `${p.name} ${p.state} ${p.info}`.trim(),
        });
      }
      if (p.proto === 'OSPF') {
        const rows = parseOspfNeighbors(
          p.name,
          (await birdCommand(sock, `show ospf neighbors ${p.name}`)).lines
            .filter((l) => l.code === 1013)
            .map((l) => l.text),
        );
        sessions.push(...(rows.length ? rows : [{ name: p.name, state: p.state, info: p.info }]));
      }
    }
    const routes = (await birdCommand(sock, 'show route protocol kube_lb')).lines.map(
      (l) => l.text.trim().split(/\s+/)[0] ?? '',
    );
    return { sessions, advertised: advertisedPrefixes(routes) };
  }

  async close(): Promise<void> {}
}
