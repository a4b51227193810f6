// A recording HTTP proxy in front of the test apiserver. A component under test gets a kubeconfig that
// points here (plain HTTP on an address the test picks) with its service-account token; every request is
// forwarded unchanged to the apiserver and recorded as RBAC attributes, so a test can compare what a
// component really calls with what deploy/ RBAC grants (both directions).
import { errorText } from '../../src/log.ts';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import type { KubeConfig } from '@kubernetes/client-node';

export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string; // "services", "services/status"; "" for non-resource paths
  namespace: string;
  name: string;
  path: string;
}

export interface Recorded extends RequestAttributes {
  status: number;
}

/** Kubernetes' mapping of a REST request to authorization attributes (the apiserver's RequestInfo). */
export function requestAttributes(method: string, url: string): RequestAttributes {
  const parsed = new URL(url, 'http://x');
  const parts = parsed.pathname.split('/').filter(Boolean);
  const base = { group: '', resource: '', namespace: '', name: '', path: parsed.pathname };
  let rest: string[];
  let group: string;
  if (parts[0] === 'api' && parts.length >= 2) [group, rest] = ['', parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 3) [group, rest] = [parts[1]!, parts.slice(3)];
  else return { ...base, verb: method.toLowerCase() };
  let namespace = '';
  // /namespaces/NS/<resource>... ; /namespaces/NS alone is the namespace object itself
  if (rest[0] === 'namespaces' && rest.length >= 3) [namespace, rest] = [rest[1]!, rest.slice(2)];
  const [resource = '', name = '', subresource] = rest;
  const watch = parsed.searchParams.get('watch');
  const verb =
    method === 'GET'
      ? watch === 'true' || watch === '1'
        ? 'watch'
        : name
          ? 'get'
          : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name
                ? 'delete'
                : 'deletecollection'
              : method.toLowerCase();
  return { ...base, verb, group, namespace, name, resource: subresource ? `${resource}/${subresource}` : resource };
}

export interface RequestRecorder {
  /** http://host:port of the proxy. */
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

/** Starts the proxy on host (any free port), forwarding to the apiserver of the admin kubeconfig. */
export async function startRequestRecorder(admin: KubeConfig, host = '127.0.0.1'): Promise<RequestRecorder> {
  const cluster = admin.getCurrentCluster()!;
  const upstream = new URL(cluster.server);
  const ca = Buffer.from(cluster.caData!, 'base64');
  const requests: Recorded[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const entry: Recorded = { ...requestAttributes(req.method ?? 'GET', req.url ?? '/'), status: 0 };
    requests.push(entry);
    const headers = { ...req.headers, host: upstream.host };
    const up = httpsRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, ca },
      (upRes) => {
        entry.status = upRes.statusCode ?? 0;
        // a PATCH that creates the object (server-side apply) is also authorized as create
        if (entry.verb === 'patch' && entry.status === 201) requests.push({ ...entry, verb: 'create' });
        res.writeHead(entry.status, upRes.headers);
        res.flushHeaders(); // a watch answers headers at once and events later: clients wait for the headers
        upRes.pipe(res);
      },
    );
    up.on('error', (err) => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502);
      res.end(errorText(err));
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, host);
  await once(server, 'listening');
  const addr = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
