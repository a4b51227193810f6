// The REST client, the kubeconfig reader and the informer against a local HTTPS server that plays the
// apiserver (a CA and certificates made by openssl, as for the test cluster): authentication, errors,
// patch types, LIST paging, and the list-watch loop's reaction to a watch that ends, a 410 Gone and a
// failed LIST. The same client against the real apiserver: test/integration/k8s-rest.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClusterConfig, UsageError } from '../../src/cli/options.ts';
import { apiMessage } from '../../src/k8s/api.ts';
import { listAll, pagedList, watchCache } from '../../src/k8s/informer.ts';
import { inClusterConfig, loadKubeConfig, loadKubeConfigList } from '../../src/k8s/kubeconfig.ts';
import { KubeClient, microTime, type ApiError } from '../../src/k8s/rest.ts';
import { generateCerts, type ClusterCerts } from '../../src/lab/cluster/certs.ts';
import { createLogger } from '../../src/log.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let dir: string;
let certs: ClusterCerts;
let server: Server;
let url: string;
let handler: Handler;
/** What the server was asked: method, path with query, headers, the client certificate's CN. */
let seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; cn?: string; body: string }>;

const json = (res: ServerResponse, code: number, body: unknown) =>
  res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
const query = (u: string) => Object.fromEntries(new URL(u, 'https://x').searchParams);
const b64 = (file: string) => readFileSync(file).toString('base64');
const log = createLogger('rest-test');

/** A kubeconfig file for the test server; `user` is the user entry as a kubeconfig has it. */
function kubeconfigFile(name: string, user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: url, 'certificate-authority-data': b64(certs.caCert), ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'ctx',
    }),
  );
  return file;
}

const tokenClient = () => new KubeClient(loadKubeConfig(kubeconfigFile('token.kubeconfig', { token: 'sesame' })));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'purelb-rest-'));
  certs = generateCerts(dir, []);
  server = createServer(
    {
      key: readFileSync(certs.serverKey),
      cert: readFileSync(certs.serverCert),
      ca: readFileSync(certs.caCert),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const socket = req.socket as TLSSocket;
        const cn = socket.authorized ? String(socket.getPeerCertificate().subject?.CN) : undefined;
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, ...(cn ? { cn } : {}) });
        handler(req, res, body);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterEach(() => {
  seen = [];
  jest.restoreAllMocks();
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

seen = [];

describe('authentication', () => {
  test('client certificate and CA as files with paths relative to the kubeconfig', async () => {
    const file = join(dir, 'relative.kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: c, cluster: {server: "${url}", certificate-authority: ca.crt}}]`,
        'users: [{name: u, user: {client-certificate: admin.crt, client-key: admin.key}}]',
        'contexts: [{name: ctx, context: {cluster: c, user: u}}]',
        'current-context: ctx',
      ].join('\n'),
    );
    handler = (_req, res) => json(res, 200, { metadata: { name: 'x' } });
    const got = await new KubeClient(loadKubeConfig(file)).get<{ metadata: { name: string } }>('/api/v1/nodes/x');
    expect(got.metadata.name).toBe('x');
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/v1/nodes/x', cn: 'purelb-admin' });
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  test('certificate data and a bearer token', async () => {
    handler = (_req, res) => json(res, 200, {});
    await tokenClient().get('/api/v1/nodes');
    const withCert = kubeconfigFile('data.kubeconfig', {
      'client-certificate-data': b64(certs.adminCert),
      'client-key-data': b64(certs.adminKey),
    });
    await new KubeClient(loadKubeConfig(withCert)).get('/api/v1/nodes');
    expect(seen.map((s) => [s.headers.authorization, s.cn])).toEqual([
      ['Bearer sesame', undefined],
      [undefined, 'purelb-admin'],
    ]);
  });

  test('a token file is read again after a minute (the kubelet rotates projected tokens)', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const kc = new KubeClient(loadKubeConfig(kubeconfigFile('file.kubeconfig', { tokenFile })));
    handler = (_req, res) => json(res, 200, {});
    const start = Date.now();
    const now = jest.spyOn(Date, 'now').mockReturnValue(start);
    await kc.get('/api/v1/nodes');
    writeFileSync(tokenFile, 'second\n');
    now.mockReturnValue(start + 59_000);
    await kc.get('/api/v1/nodes');
    now.mockReturnValue(start + 61_000);
    await kc.get('/api/v1/nodes');
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer first', 'Bearer first', 'Bearer second']);
  });

  test('a server the CA did not sign is refused, unless insecure-skip-tls-verify', async () => {
    handler = (_req, res) => json(res, 200, {});
    const otherCA = kubeconfigFile(
      'other-ca.kubeconfig',
      { token: 't' },
      { 'certificate-authority-data': b64(certs.adminCert) },
    );
    await expect(new KubeClient(loadKubeConfig(otherCA)).get('/api/v1/nodes')).rejects.toThrow(/certificate/);
    const insecure = kubeconfigFile(
      'insecure.kubeconfig',
      { token: 't' },
      { 'certificate-authority-data': undefined, 'insecure-skip-tls-verify': true },
    );
    await expect(new KubeClient(loadKubeConfig(insecure)).get('/api/v1/nodes')).resolves.toEqual({});
  });
});

describe('requests', () => {
  test('a refused call carries the HTTP status as code and the apiserver message', async () => {
    const status = {
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      message: 'Operation cannot be fulfilled on services "web": the object has been modified',
    };
    handler = (_req, res) => json(res, 409, status);
    const err = (await tokenClient()
      .patch('/api/v1/namespaces/a/services/web', { metadata: {} }, 'merge')
      .catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe(409);
    expect(err.message).toBe(`PATCH /api/v1/namespaces/a/services/web: ${status.message} (HTTP 409)`);
    expect(apiMessage(err)).toBe(status.message);
    handler = (_req, res) => res.writeHead(502).end('bad gateway from a proxy');
    await expect(tokenClient().get('/api/v1/nodes')).rejects.toMatchObject({
      code: 502,
      message: 'GET /api/v1/nodes: bad gateway from a proxy (HTTP 502)',
    });
  });

  test('merge patch, server-side apply, create, replace and delete: method, content type, query, body', async () => {
    handler = (_req, res) => json(res, 200, {});
    const kc = tokenClient();
    const path = '/apis/purelb.io/v1/namespaces/a/noderoutingstatuses/n1';
    await kc.patch(path, { metadata: { labels: { a: null } } }, 'merge');
    await kc.patch(path, { kind: 'NodeRoutingStatus' }, 'apply', { query: { fieldManager: 'me', force: true } });
    await kc.create('/api/v1/namespaces', { metadata: { name: 'n' } });
    await kc.replace('/api/v1/namespaces/n', { metadata: { name: 'n' } });
    await kc.delete(path);
    expect(seen.map((s) => [s.method, s.headers['content-type'], s.url, s.body])).toEqual([
      ['PATCH', 'application/merge-patch+json', path, '{"metadata":{"labels":{"a":null}}}'],
      ['PATCH', 'application/apply-patch+yaml', `${path}?fieldManager=me&force=true`, '{"kind":"NodeRoutingStatus"}'],
      ['POST', 'application/json', '/api/v1/namespaces', '{"metadata":{"name":"n"}}'],
      ['PUT', 'application/json', '/api/v1/namespaces/n', '{"metadata":{"name":"n"}}'],
      ['DELETE', undefined, path, ''],
    ]);
  });

  test('listAll follows continue tokens page by page, with the selectors on every page', async () => {
    handler = (req, res) => {
      const q = query(req.url!);
      const page = Number(q.continue ?? 0);
      json(res, 200, {
        metadata: { resourceVersion: '77', ...(page < 2 ? { continue: String(page + 1) } : {}) },
        items: [{ metadata: { name: `o${page}` } }],
      });
    };
    const list = await listAll(
      pagedList(tokenClient(), '/api/v1/pods', { labelSelector: 'a=b', fieldSelector: 'c=d' }),
    );
    expect(list).toEqual({
      metadata: { resourceVersion: '77' },
      items: [{ metadata: { name: 'o0' } }, { metadata: { name: 'o1' } }, { metadata: { name: 'o2' } }],
    });
    expect(seen.map((s) => query(s.url))).toEqual([
      { labelSelector: 'a=b', fieldSelector: 'c=d', limit: '500' },
      { labelSelector: 'a=b', fieldSelector: 'c=d', limit: '500', continue: '1' },
      { labelSelector: 'a=b', fieldSelector: 'c=d', limit: '500', continue: '2' },
    ]);
  });

  test('microTime writes RFC 3339 with microseconds, as metav1.MicroTime', () => {
    expect(microTime(Date.UTC(2026, 11, 2, 11, 28, 50, 915))).toBe('2026-12-02T11:28:50.915000Z');
  });
});

/** The test server as an apiserver of one path: LIST answers from `lists` in turn, each WATCH runs the next
 * script of `watches` (lines to send; `end` ends the stream, else it stays open). */
function serveListWatch(lists: unknown[], watches: Array<{ status?: number; lines: unknown[]; end?: boolean }>) {
  handler = (req, res) => {
    if (query(req.url!).watch === 'true') {
      const w = watches.shift() ?? { lines: [] };
      if (w.status) return json(res, w.status, { kind: 'Status', code: w.status, message: 'too old resource version' });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (const line of w.lines) res.write(`${JSON.stringify(line)}\n`);
      if (w.end) res.end();
      return;
    }
    const next = lists.shift();
    if (next === undefined) return json(res, 503, { kind: 'Status', code: 503, message: 'no more lists' });
    json(res, 200, next);
  };
}

const obj = (name: string, rv: string) => ({ metadata: { name, namespace: 'a', resourceVersion: rv } });

describe('watchCache', () => {
  const start = (opts = {}) => {
    const cache = watchCache(tokenClient(), '/api/v1/namespaces/a/configmaps', log, { initialBackoffMs: 10, ...opts });
    const changes: string[] = [];
    cache.onChange((o, kind) =>
      changes.push(`${kind}${o ? ` ${o.metadata?.name}@${o.metadata?.resourceVersion}` : ''}`),
    );
    return { cache, changes };
  };
  const requests = () =>
    seen.map((s) => {
      const q = query(s.url);
      return q.watch ? `WATCH rv=${q.resourceVersion} bookmarks=${q.allowWatchBookmarks}` : 'LIST';
    });

  test('lists, applies watch events, and reopens an ended watch from the last version seen (bookmarks too)', async () => {
    serveListWatch(
      [{ metadata: { resourceVersion: '10' }, items: [obj('x', '1'), obj('y', '2')] }],
      [
        {
          lines: [
            { type: 'MODIFIED', object: obj('x', '11') },
            { type: 'DELETED', object: obj('y', '12') },
            { type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } },
          ],
          end: true,
        },
        { lines: [{ type: 'ADDED', object: obj('z', '16') }] },
      ],
    );
    const { cache, changes } = start();
    try {
      await cache.synced;
      await waitUntil(() => changes.includes('add z@16'));
      expect(changes).toEqual(['add x@1', 'add y@2', 'relist', 'update x@11', 'delete y@12', 'add z@16']);
      expect(requests()).toEqual(['LIST', 'WATCH rv=10 bookmarks=true', 'WATCH rv=15 bookmarks=true']);
      expect(cache.list().map((o) => o.metadata?.name)).toEqual(['x', 'z']);
      expect(cache.get('x', 'a')?.metadata?.resourceVersion).toBe('11');
    } finally {
      await cache.stop();
    }
  });

  test('410 Gone, as an ERROR event or as the answer to the WATCH, lists again at once', async () => {
    serveListWatch(
      [
        { metadata: { resourceVersion: '10' }, items: [obj('x', '1'), obj('y', '2')] },
        { metadata: { resourceVersion: '30' }, items: [obj('x', '1'), obj('w', '25')] },
        { metadata: { resourceVersion: '40' }, items: [obj('w', '26')] },
      ],
      [
        { lines: [{ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } }] },
        { status: 410, lines: [] },
        { lines: [] },
      ],
    );
    const { cache, changes } = start();
    try {
      await waitUntil(() => requests().length === 6);
      expect(requests()).toEqual([
        'LIST',
        'WATCH rv=10 bookmarks=true',
        'LIST',
        'WATCH rv=30 bookmarks=true',
        'LIST',
        'WATCH rv=40 bookmarks=true',
      ]);
      await waitUntil(() => changes.filter((c) => c === 'relist').length === 3);
      // what left the list between the snapshots is deleted, what changed is updated
      expect(changes).toEqual([
        'add x@1',
        'add y@2',
        'relist',
        'delete y@2',
        'add w@25',
        'relist',
        'delete x@1',
        'update w@26',
        'relist',
      ]);
    } finally {
      await cache.stop();
    }
  });

  test('a failed LIST is retried with backoff; the cache is synced once one succeeds', async () => {
    let failures = 2;
    handler = (req, res) => {
      if (query(req.url!).watch) return void res.writeHead(200).flushHeaders();
      if (failures-- > 0) return json(res, 403, { kind: 'Status', code: 403, message: 'forbidden for now' });
      json(res, 200, { metadata: { resourceVersion: '5' }, items: [obj('x', '1')] });
    };
    const { cache } = start();
    try {
      await cache.synced;
      expect(cache.isSynced()).toBe(true);
      await waitUntil(() => requests().length === 4);
      expect(requests()).toEqual(['LIST', 'LIST', 'LIST', 'WATCH rv=5 bookmarks=true']);
    } finally {
      await cache.stop();
    }
  });

  test('metadataOnly asks for PartialObjectMetadata on the LIST and the WATCH', async () => {
    serveListWatch([{ metadata: { resourceVersion: '3' }, items: [] }], [{ lines: [] }]);
    const { cache } = start({ metadataOnly: true, labelSelector: 'l=v' });
    try {
      await cache.synced;
      await waitUntil(() => seen.length === 2);
      expect(seen.map((s) => [s.headers.accept, query(s.url).labelSelector])).toEqual([
        ['application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1', 'l=v'],
        ['application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1', 'l=v'],
      ]);
    } finally {
      await cache.stop();
    }
  });
});

describe('kubeconfig', () => {
  test('KUBECONFIG: a list of files, missing ones skipped, the first definition of a name and context wins', () => {
    const write = (name: string, server: string, current?: string) => {
      const file = join(dir, name);
      writeFileSync(
        file,
        JSON.stringify({
          clusters: [
            { name: 'shared', cluster: { server } },
            { name: name, cluster: { server: `${server}/own` } },
          ],
          users: [{ name: 'u', user: { token: name } }],
          contexts: [
            { name: 'shared', context: { cluster: 'shared', user: 'u' } },
            { name: `ctx-${name}`, context: { cluster: name, user: 'u' } },
          ],
          ...(current ? { 'current-context': current } : {}),
        }),
      );
      return file;
    };
    const a = write('a', 'https://a.example');
    const b = write('b', 'https://b.example', 'ctx-b');
    const kc = loadKubeConfigList([join(dir, 'missing'), a, b].join(':'));
    expect(kc.contextNames()).toEqual(['shared', 'ctx-a', 'ctx-b']);
    expect(kc.currentContext).toBe('ctx-b');
    expect(kc.access()).toEqual({ server: 'https://b.example/own', token: 'a' });
    kc.useContext('shared');
    expect(kc.server()).toBe('https://a.example');
    kc.useContext('nope');
    expect(() => kc.access()).toThrow(/no context "nope" \(contexts: shared, ctx-a, ctx-b\)/);
  });

  test('in-cluster: the service host and port (IPv6 in brackets), the mounted CA and a token file', () => {
    const sa = mkdtempSync(join(dir, 'sa-'));
    writeFileSync(join(sa, 'ca.crt'), readFileSync(certs.caCert));
    const env = { ...process.env };
    try {
      process.env.KUBERNETES_SERVICE_HOST = 'fd00::1';
      process.env.KUBERNETES_SERVICE_PORT = '6443';
      expect(inClusterConfig(sa).access()).toEqual({
        server: 'https://[fd00::1]:6443',
        ca: readFileSync(certs.caCert),
        tokenFile: join(sa, 'token'),
      });
    } finally {
      process.env = env;
    }
  });

  test('a user with an exec plugin is refused with what to use instead; for the CLI that and a missing file are usage errors', () => {
    const file = kubeconfigFile('exec.kubeconfig', { exec: { command: 'aws' } });
    expect(() => loadKubeConfig(file).access()).toThrow(
      /exec or auth-provider plugin.*use a token or a client certificate/,
    );
    expect(() => loadClusterConfig({ kubeconfig: file })).toThrow(UsageError);
    expect(() => loadClusterConfig({ kubeconfig: join(dir, 'missing') })).toThrow(UsageError);
  });
});

async function waitUntil(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
