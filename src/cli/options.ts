// Option helpers shared by the subcommands.
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';

/** A bad command line: main() prints the message and exits 2 instead of crashing with a stack trace. */
export class UsageError extends Error {}

/** Parses "700ms", "2s", "1m" or a plain number of seconds into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--${flag} must be a duration like 700ms, 2s or 1m, got "${text}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

/** Options of every long-running component: the apiserver, the install namespace, the health/metrics endpoint. */
export function componentOptions(healthPort: number) {
  return {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', default: process.env.PURELB_NAMESPACE ?? DEFAULT_NAMESPACE },
    'health-port': { type: 'string', default: String(healthPort) },
    'health-host': { type: 'string', default: '0.0.0.0' },
  } as const;
}
