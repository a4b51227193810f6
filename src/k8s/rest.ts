// A small Kubernetes REST client: JSON over HTTPS (HTTP/1.1, keep-alive), the verbs our components use
// (GET/LIST, WATCH, POST, PUT, PATCH as merge patch or server-side apply, DELETE). It replaces
// @kubernetes/client-node at run time: that library loads its whole generated API and every model
// (~85 MiB RSS, BENCHMARKS.md "Where the memory goes"), and the node agent runs on every node.
// Objects travel as plain JSON: times are RFC 3339 strings (no Date objects) and lists carry
// `metadata.continue` under that name.
import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { errorText } from '../log.ts';
import { http } from '../node-http.ts';
import type { ApiAccess, KubeConfig } from './kubeconfig.ts';

export type Query = Record<string, string | number | boolean | undefined>;

/** A LIST answer. */
export interface ObjectList<T> {
  metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

export interface WatchEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  /** The object; for ERROR a Status (its `code` is the HTTP status, 410 when the version is too old). */
  object: T;
}

/** merge: RFC 7386 merge patch (lists replaced whole); apply: server-side apply of the whole intent. */
export type PatchType = 'merge' | 'apply';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  // JSON is YAML: the apiserver accepts the body as sent
  apply: 'application/apply-patch+yaml',
};

export interface RequestOptions {
  query?: Query;
  /** Accept header (metadata-only reads: src/k8s/informer.ts). */
  accept?: string;
  signal?: AbortSignal;
}

/** A failed call: `code` is the HTTP status (404, 409, ...), the message the apiserver's own. */
export class ApiError extends Error {
  readonly code: number;
  /** The apiserver's Status object, when it sent one. */
  readonly body: unknown;
  constructor(code: number, message: string, body: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.body = body;
  }
}

/** A request whose answer does not start, or whose body does not end, within this fails (a hung
 * apiserver must not hold a caller forever). A watch's stream has its own idle limit instead. */
const REQUEST_MS = 60_000;
/** A projected service-account token is re-read this often (client-go's period). */
const TOKEN_REREAD_MS = 60_000;

export interface WatchOptions {
  signal?: AbortSignal;
  /** Ends the watch (resolves) when no byte arrived for this long: bookmarks come every minute. */
  idleMs?: number;
  /** Called when the apiserver accepted the watch (200 and headers). */
  onOpen?: () => void;
  /** Accept header (metadata-only watches). */
  accept?: string;
}

export class KubeClient {
  readonly #server: URL;
  readonly #agent: HttpAgent;
  readonly #access: ApiAccess;
  #token: { value: string; readAt: number } | undefined;

  constructor(config: KubeConfig | ApiAccess) {
    const access = 'access' in config ? config.access() : config;
    this.#access = access;
    this.#server = new URL(access.server);
    const secure = this.#server.protocol === 'https:';
    this.#agent = secure
      ? new HttpsAgent({
          keepAlive: true,
          ...(access.ca ? { ca: access.ca } : {}),
          ...(access.cert ? { cert: access.cert } : {}),
          ...(access.key ? { key: access.key } : {}),
          ...(access.tlsServerName ? { servername: access.tlsServerName } : {}),
          rejectUnauthorized: !access.insecureSkipTLSVerify,
        })
      : new http.Agent({ keepAlive: true });
  }

  /** The apiserver's URL, for messages. */
  get server(): string {
    return this.#access.server;
  }

  get<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.#call<T>('GET', path, undefined, undefined, opts);
  }

  list<T>(path: string, opts: RequestOptions = {}): Promise<ObjectList<T>> {
    return this.get<ObjectList<T>>(path, opts);
  }

  create<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.#call<T>('POST', path, body, 'application/json', opts);
  }

  replace<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.#call<T>('PUT', path, body, 'application/json', opts);
  }

  /** For `apply`, pass fieldManager (and force to take over fields of other managers) in opts.query. */
  patch<T>(path: string, body: unknown, type: PatchType, opts: RequestOptions = {}): Promise<T> {
    return this.#call<T>('PATCH', path, body, PATCH_CONTENT_TYPE[type], opts);
  }

  delete<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.#call<T>('DELETE', path, undefined, undefined, opts);
  }

  /**
   * Streams the events of a WATCH to onEvent until the apiserver ends it (timeoutSeconds), the
   * watch idles for opts.idleMs, or opts.signal aborts: then it resolves. It rejects with an ApiError
   * when the apiserver refuses the watch (410 Gone: the resourceVersion is too old, list again), on a
   * broken connection, or with what onEvent throws (which ends the watch).
   */
  async watch<T>(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent<T>) => void,
    opts: WatchOptions = {},
  ): Promise<void> {
    const res = await this.#send(
      'GET',
      path,
      { ...query, watch: true },
      undefined,
      undefined,
      opts.signal,
      opts.accept,
    );
    if (res.statusCode !== 200) throw await failure('WATCH', path, res);
    opts.onOpen?.();
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(idle);
        opts.signal?.removeEventListener('abort', abort);
        res.destroy();
        // an abort ends the watch as asked, whatever the connection reports while it is torn down
        if (err && !opts.signal?.aborted) reject(err instanceof Error ? err : new Error(errorText(err)));
        else resolve();
      };
      const abort = () => finish();
      const idle = opts.idleMs ? setTimeout(abort, opts.idleMs) : undefined;
      opts.signal?.addEventListener('abort', abort);
      if (opts.signal?.aborted) abort();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        idle?.refresh();
        buffered += chunk;
        let nl: number;
        while (!done && (nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (!line.trim()) continue;
          try {
            onEvent(JSON.parse(line) as WatchEvent<T>);
          } catch (err) {
            finish(err);
          }
        }
      });
      res.on('end', () => finish());
      res.on('error', finish);
      res.on('close', () => finish(res.complete ? undefined : new Error(`WATCH ${path}: connection closed`)));
    });
  }

  async #call<T>(
    method: string,
    path: string,
    body: unknown,
    contentType: string | undefined,
    opts: RequestOptions,
  ): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await this.#send(method, path, opts.query, payload, contentType, opts.signal, opts.accept);
    if (res.statusCode === undefined || res.statusCode >= 300) throw await failure(method, path, res);
    const text = await readBody(res, `${method} ${path}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Sends one request and resolves with the response (headers read, body not). A request on a kept-alive
   * connection that the apiserver closed meanwhile is sent once more on a new one. */
  async #send(
    method: string,
    path: string,
    query: Query | undefined,
    payload: string | undefined,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
    accept = 'application/json',
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.#server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: OutgoingHttpHeaders = { Accept: accept, ...this.#auth() };
    if (payload !== undefined) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = Buffer.byteLength(payload);
    }
    const send = (retry: boolean) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const request = url.protocol === 'https:' ? httpsRequest : http.request;
        const timer = setTimeout(
          () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${REQUEST_MS} ms`)),
          REQUEST_MS,
        );
        const req = request(url, { method, headers, agent: this.#agent, ...(signal ? { signal } : {}) }, (res) => {
          clearTimeout(timer);
          resolve(res);
        });
        req.on('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          if (retry && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) resolve(send(false));
          else reject(err);
        });
        req.end(payload);
      });
    return send(true);
  }

  #auth(): OutgoingHttpHeaders {
    const a = this.#access;
    if (a.tokenFile) {
      const now = Date.now();
      if (!this.#token || now - this.#token.readAt >= TOKEN_REREAD_MS)
        this.#token = { value: readFileSync(a.tokenFile, 'utf8').trim(), readAt: now };
      return { Authorization: `Bearer ${this.#token.value}` };
    }
    if (a.token) return { Authorization: `Bearer ${a.token}` };
    if (a.username !== undefined)
      return { Authorization: `Basic ${Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64')}` };
    return {};
  }

  /** Closes the kept-alive connections (a process that ends needs not call it). */
  close(): void {
    this.#agent.destroy();
  }
}

function readBody(res: IncomingMessage, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => res.destroy(new Error(`${what}: answer not complete within ${REQUEST_MS} ms`)),
      REQUEST_MS,
    );
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.complete) reject(new Error(`${what}: connection closed before the answer was complete`));
    });
  });
}

/** The ApiError of a refused call, with the apiserver's message (its Status body) when it sent one. */
async function failure(method: string, path: string, res: IncomingMessage): Promise<ApiError> {
  const code = res.statusCode ?? 0;
  const text = await readBody(res, `${method} ${path}`).catch(() => '');
  let body: unknown = text;
  let message = text.trim().slice(0, 500) || res.statusMessage || 'no message';
  try {
    body = JSON.parse(text);
    const status = body as { message?: string };
    if (status.message) message = status.message;
  } catch {
    // not JSON (a proxy's page): the text itself is the message
  }
  return new ApiError(code, `${method} ${path}: ${message} (HTTP ${code})`, body);
}

/** A metav1.MicroTime as the apiserver writes it: RFC 3339 with microseconds ("...T11:28:50.915000Z"). */
export function microTime(ms: number = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
