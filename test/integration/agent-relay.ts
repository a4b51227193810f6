// Runs inside a node's network namespace: forwards 127.0.0.1:<port> to a unix socket that the test
// process forwards to the apiserver (see agent-lan.ts). Prints "ready" once listening.
import { createConnection, createServer } from 'node:net';

const [port, socketPath] = process.argv.slice(2);
createServer((c) => {
  const upstream = createConnection(socketPath!);
  c.pipe(upstream).pipe(c);
  c.on('error', () => upstream.destroy());
  upstream.on('error', () => c.destroy());
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
