// Option helpers shared by the subcommands.
import { DEFAULT_NAMESPACE } from '../api/annotations.ts';
import { loadKubeConfig, type KubeConfig } from '../k8s/kubeconfig.ts';
import { errorText } from '../log.ts';

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

/**
 * Options of every command that reads a cluster the way kubectl does: --kubeconfig (else KUBECONFIG, else
 * in-cluster, else ~/.kube/config), --context (a context of that kubeconfig instead of its current one)
 * and -n/--namespace (the install namespace).
 */
export function clusterOptions(defaultNamespace: string) {
  return {
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string', short: 'n', default: defaultNamespace },
  } as const;
}

/** The kubeconfig of clusterOptions: --context must name a context of it (kubectl's check, with the choices),
 * and it must give what the client needs (a missing file or an unsupported user is a usage error, not a crash). */
export function loadClusterConfig(values: { kubeconfig?: string; context?: string }): KubeConfig {
  const usable = <T>(read: () => T): T => {
    try {
      return read();
    } catch (err) {
      throw new UsageError(errorText(err));
    }
  };
  const kc = usable(() => loadKubeConfig(values.kubeconfig));
  if (values.context !== undefined) {
    const names = kc.contextNames();
    if (!names.includes(values.context)) {
      const where = values.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
      throw new UsageError(
        `--context ${values.context}: no such context in ${where} (contexts: ${names.join(', ') || 'none'})`,
      );
    }
    kc.useContext(values.context);
  }
  usable(() => kc.access());
  return kc;
}
