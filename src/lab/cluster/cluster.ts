// A real etcd + kube-apiserver on free ports, RBAC on, with an admin kubeconfig and service-account
// signing keys (TokenRequest works). Used by the integration tests and by the lab.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterBinaries } from './binaries.ts';
import { generateCerts, type ClusterCerts } from './certs.ts';
import { killRunSync, reapStaleRuns, startOwned, stopRun } from './processes.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export const CLUSTER_DIR_PREFIX = 'purelb-cluster-';

export interface ClusterOptions {
  /** Address the apiserver binds to; the lab uses its management address so node namespaces reach it. */
  bindAddress?: string;
  /** Where to put the state dir (certs, etcd data, logs, kubeconfig); default: a new dir under tmpdir. */
  dir?: string;
  readyTimeoutMs?: number;
  /** etcd and the apiserver outlive this process (the lab); stop them with stopRun(dir) later. */
  keepRunning?: boolean;
  /** More addresses in the serving certificate (the real-cluster lab: the `kubernetes` Service IP). */
  extraServerIps?: string[];
  /** More apiserver flags; a flag given here replaces the default of the same name. */
  extraApiserverArgs?: string[];
}

export interface Cluster {
  dir: string;
  server: string;
  kubeconfig: string;
  certs: ClusterCerts;
  stop(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A kubeconfig with the client certificate `cert`/`key` (embedded, so the file can move). */
export function kubeconfigFor(
  server: string,
  caCert: string,
  cert: string,
  key: string,
  user = 'purelb-admin',
): string {
  const b64 = (p: string) => readFileSync(p).toString('base64');
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'purelb-lab', cluster: { server, 'certificate-authority-data': b64(caCert) } }],
      users: [{ name: user, user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } }],
      contexts: [{ name: 'purelb-lab', context: { cluster: 'purelb-lab', user } }],
      'current-context': 'purelb-lab',
    },
    null,
    2,
  );
}

function readyz(server: string, certs: ClusterCerts): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${server}/readyz`,
      {
        ca: readFileSync(certs.caCert),
        cert: readFileSync(certs.adminCert),
        key: readFileSync(certs.adminKey),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** `base` with every `--flag=value` of `extra` replacing the one of the same name (or added). */
export function withFlags(base: string[], extra: string[]): string[] {
  const name = (a: string) => a.split('=')[0];
  const replaced = new Set(extra.map(name));
  return [...base.filter((a) => !replaced.has(name(a))), ...extra];
}

// eslint-disable-next-line max-lines-per-function -- the start-up script of etcd, certificates and kube-apiserver in order, each step a few lines
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  await reapStaleRuns(CLUSTER_DIR_PREFIX);
  const bins = clusterBinaries();
  const host = opts.bindAddress ?? '127.0.0.1';
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), CLUSTER_DIR_PREFIX));
  const onExit = () => killRunSync(dir);
  // 'exit' does not run on signals: stop the children, then die of the same signal as before.
  const onSignal = (signal: NodeJS.Signals) => {
    killRunSync(dir);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  const unhook = () => {
    process.removeListener('exit', onExit);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
  if (!opts.keepRunning) {
    process.once('exit', onExit);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    const certs = generateCerts(dir, [host, ...(opts.extraServerIps ?? [])]);
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort(host)];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const etcd = startOwned(
      dir,
      'etcd',
      bins.etcd,
      [
        '--name',
        'default',
        '--data-dir',
        join(dir, 'etcd-data'),
        '--listen-client-urls',
        etcdUrl,
        '--advertise-client-urls',
        etcdUrl,
        '--listen-peer-urls',
        peerUrl,
        '--initial-advertise-peer-urls',
        peerUrl,
        '--initial-cluster',
        `default=${peerUrl}`,
        '--unsafe-no-fsync',
        '--log-level',
        'warn',
      ],
      process.env,
      { detached: opts.keepRunning ?? false },
    );
    const apiserver = startOwned(
      dir,
      'kube-apiserver',
      bins.apiserver,
      withFlags(
        [
          `--etcd-servers=${etcdUrl}`,
          `--bind-address=${host}`,
          `--advertise-address=${host}`,
          `--secure-port=${apiPort}`,
          `--tls-cert-file=${certs.serverCert}`,
          `--tls-private-key-file=${certs.serverKey}`,
          `--client-ca-file=${certs.caCert}`,
          '--authorization-mode=RBAC',
          '--service-account-issuer=https://kubernetes.default.svc',
          `--service-account-key-file=${certs.saPub}`,
          `--service-account-signing-key-file=${certs.saKey}`,
          '--api-audiences=https://kubernetes.default.svc',
          // dual-stack, so Services with RequireDualStack get both cluster IPs
          '--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108',
          `--cert-dir=${join(dir, 'apiserver-certs')}`,
          '--enable-priority-and-fairness=false',
          '--v=0',
        ],
        opts.extraApiserverArgs ?? [],
      ),
      process.env,
      { detached: opts.keepRunning ?? false },
    );
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${apiPort}`;
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigFor(server, certs.caCert, certs.adminCert, certs.adminKey));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
    while (!(await readyz(server, certs))) {
      for (const [name, child] of [
        ['etcd', etcd],
        ['kube-apiserver', apiserver],
      ] as const) {
        if (child.exitCode !== null) {
          const log = readFileSync(join(dir, `${name}.log`), 'utf8')
            .split('\n')
            .slice(-15)
            .join('\n');
          throw new Error(`${name} exited with code ${child.exitCode}; last log lines:\n${log}`);
        }
      }
      if (Date.now() > deadline)
        throw new Error(`kube-apiserver at ${server} not ready after timeout (logs in ${dir})`);
      await sleep(250);
    }
    return {
      dir,
      server,
      kubeconfig,
      certs,
      stop: async () => {
        unhook();
        await stopRun(dir);
      },
    };
  } catch (err) {
    unhook();
    await stopRun(dir);
    throw err;
  }
}
