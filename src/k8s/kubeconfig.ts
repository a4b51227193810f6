// Kubeconfig for components and the CLI: --kubeconfig, else KUBECONFIG, else the in-cluster service account,
// else ~/.kube/config. Our own reader (no client-node: its KubeConfig module alone loads ~85 MiB of
// generated code, see BENCHMARKS.md "Where the memory goes"). It reads what our clusters and the usual
// kubeconfigs use: per cluster server, CA (file or data), tls-server-name and insecure-skip-tls-verify;
// per user a client certificate and key (files or data), a bearer token or token file, or basic auth.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';

/** Everything a client needs to reach one apiserver as one user. */
export interface ApiAccess {
  /** https://host:port (http:// for a plain proxy in tests) */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
  token?: string;
  /** Re-read while running: a projected service-account token is rotated by the kubelet. */
  tokenFile?: string;
  username?: string;
  password?: string;
}

interface ClusterEntry {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
}

interface UserEntry {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
}

interface ContextEntry {
  cluster?: string;
  user?: string;
  namespace?: string;
}

type Named<K extends string, T> = { name: string } & { [key in K]?: T };

/** A kubeconfig file's content, file paths in it made absolute (relative ones are relative to the file). */
interface KubeConfigFile {
  clusters: Named<'cluster', ClusterEntry>[];
  users: Named<'user', UserEntry>[];
  contexts: Named<'context', ContextEntry>[];
  'current-context'?: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeConfig {
  readonly #file: KubeConfigFile;
  /** Where it came from, for messages: a path, a KUBECONFIG list or "in-cluster". */
  readonly source: string;
  #current: string;

  constructor(file: KubeConfigFile, source: string) {
    this.#file = file;
    this.source = source;
    this.#current = file['current-context'] ?? '';
  }

  get currentContext(): string {
    return this.#current;
  }

  contextNames(): string[] {
    return this.#file.contexts.map((c) => c.name);
  }

  /** Switches to another context of the file (the caller checked the name: contextNames). */
  useContext(name: string): void {
    this.#current = name;
  }

  /** The current context's server, or undefined when the context or its cluster is missing. */
  server(): string | undefined {
    const cluster = this.#find('clusters', this.#context()?.cluster);
    return cluster?.cluster?.server;
  }

  /** The current context's cluster and user, read as a client needs them; throws naming what is missing. */
  access(): ApiAccess {
    const where = `kubeconfig ${this.source}`;
    const context = this.#context();
    if (!context)
      throw new Error(
        `${where}: no context "${this.#current}" (contexts: ${this.contextNames().join(', ') || 'none'}); set current-context or pass --context`,
      );
    const cluster = this.#find('clusters', context.cluster)?.cluster;
    if (!cluster?.server)
      throw new Error(`${where}: context "${this.#current}" names cluster "${context.cluster}", which has no server`);
    const user = this.#find('users', context.user)?.user ?? {};
    if (user.exec || user['auth-provider'])
      throw new Error(
        `${where}: user "${context.user}" authenticates with an exec or auth-provider plugin, which purelb does not run; use a token or a client certificate`,
      );
    const bytes = (file?: string, data?: string) =>
      data ? Buffer.from(data, 'base64') : file ? readFileSync(file) : undefined;
    return dropUndefined({
      server: cluster.server.replace(/\/+$/, ''),
      ca: bytes(cluster['certificate-authority'], cluster['certificate-authority-data']),
      insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'],
      tlsServerName: cluster['tls-server-name'],
      cert: bytes(user['client-certificate'], user['client-certificate-data']),
      key: bytes(user['client-key'], user['client-key-data']),
      token: user.token,
      tokenFile: user.tokenFile,
      username: user.username,
      password: user.password,
    });
  }

  #context(): ContextEntry | undefined {
    return this.#find('contexts', this.#current)?.context;
  }

  #find<K extends 'clusters' | 'users' | 'contexts'>(kind: K, name: string | undefined) {
    return (this.#file[kind] as Array<{ name: string }>).find((e) => e.name === name) as
      KubeConfigFile[K][number] | undefined;
  }
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** One kubeconfig file, its relative paths resolved against its directory. */
export function readKubeConfigFile(path: string): KubeConfigFile {
  const doc = (load(readFileSync(path, 'utf8')) ?? {}) as Partial<KubeConfigFile>;
  const abs = (p: string | undefined) => (p && !isAbsolute(p) ? join(dirname(path), p) : p);
  const absolute = <T extends object>(entry: T | undefined, keys: Array<keyof T>): T | undefined => {
    if (!entry) return entry;
    const out = { ...entry };
    for (const k of keys) if (typeof out[k] === 'string') out[k] = abs(out[k]) as T[keyof T];
    return out;
  };
  return {
    clusters: (doc.clusters ?? []).map((c) => ({
      name: c.name,
      cluster: absolute(c.cluster, ['certificate-authority']),
    })),
    users: (doc.users ?? []).map((u) => ({
      name: u.name,
      user: absolute(u.user, ['client-certificate', 'client-key', 'tokenFile']),
    })),
    contexts: doc.contexts ?? [],
    ...(doc['current-context'] ? { 'current-context': doc['current-context'] } : {}),
  };
}

/**
 * KUBECONFIG as kubectl reads it: a list of files, missing ones skipped, merged with the first file that
 * defines a cluster, user or context (or the current context) winning.
 */
export function loadKubeConfigList(list: string): KubeConfig {
  const files = list.split(delimiter).filter((f) => f !== '' && existsSync(f));
  if (files.length === 0) throw new Error(`KUBECONFIG=${list}: none of these files exists`);
  const merged: KubeConfigFile = { clusters: [], users: [], contexts: [] };
  for (const file of files) {
    const next = readKubeConfigFile(file);
    const add = <T extends { name: string }>(have: T[], more: T[]) =>
      have.push(...more.filter((m) => !have.some((h) => h.name === m.name)));
    add(merged.clusters, next.clusters);
    add(merged.users, next.users);
    add(merged.contexts, next.contexts);
    merged['current-context'] ||= next['current-context'];
  }
  return new KubeConfig(merged, list);
}

/** The pod's service account: the apiserver from KUBERNETES_SERVICE_HOST/PORT, the mounted CA and token. */
export function inClusterConfig(dir = SERVICE_ACCOUNT_DIR): KubeConfig {
  const host = process.env.KUBERNETES_SERVICE_HOST ?? '';
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new KubeConfig(
    {
      clusters: [{ name: 'in-cluster', cluster: { server, 'certificate-authority': join(dir, 'ca.crt') } }],
      users: [{ name: 'in-cluster', user: { tokenFile: join(dir, 'token') } }],
      contexts: [{ name: 'in-cluster', context: { cluster: 'in-cluster', user: 'in-cluster' } }],
      'current-context': 'in-cluster',
    },
    'in-cluster',
  );
}

export function loadKubeConfig(path?: string): KubeConfig {
  if (path) return new KubeConfig(readKubeConfigFile(path), path);
  if (process.env.KUBECONFIG) return loadKubeConfigList(process.env.KUBECONFIG);
  if (process.env.KUBERNETES_SERVICE_HOST) return inClusterConfig();
  const home = join(homedir(), '.kube', 'config');
  if (!existsSync(home))
    throw new Error(`no kubeconfig: pass --kubeconfig, set KUBECONFIG, or create ${home} (or run in a pod)`);
  return new KubeConfig(readKubeConfigFile(home), home);
}
