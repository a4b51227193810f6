// HTTP endpoint of every component: /healthz (process alive and its loops turning), /readyz (caches
// synced, and for the allocator: leading or standing by), /metrics (Prometheus, prom-client registry).
import { errorText } from '../log.ts';
import type { Server } from 'node:http';
import { http } from '../node-http.ts';
import type { Registry } from 'prom-client';

export interface HealthChecks {
  healthy(): boolean | string;
  ready(): boolean | string;
  /** More checks by path (the agent's LAN probe paths), answered the same way: 200, or 503 with the
   * reason; they get the request's query parameters. */
  more?: Record<string, (query: URLSearchParams) => boolean | string>;
}

/** Starts the server on host:port (port 0 = any free port) and resolves with the bound port. */
export async function startHealthServer(
  host: string,
  port: number,
  checks: HealthChecks,
  registry: Registry,
): Promise<{ server: Server; port: number }> {
  const answer = (result: boolean | string) =>
    result === true ? ([200, 'ok\n'] as const) : ([503, `${result || 'not ready'}\n`] as const);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://health');
    const path = url.pathname;
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(errorText(err)),
      );
      return;
    }
    const check =
      path === '/healthz'
        ? () => checks.healthy()
        : path === '/readyz'
          ? () => checks.ready()
          : checks.more && Object.hasOwn(checks.more, path)
            ? () => checks.more![path]!(url.searchParams)
            : undefined;
    if (!check) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const [code, body] = answer(check());
    res.writeHead(code, { 'Content-Type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
