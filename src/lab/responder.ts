// The lab's stand-in for kube-proxy + a pod: run inside a node's network namespace, it answers every
// HTTP request with the node's name, so the client sees which node a request reached. It listens on
// the wildcard address, which covers every virtual and local address the agent puts on this node.
//   node src/lab/responder.ts NODE-NAME PORT...
import { createServer } from 'node:http';

const [node, ...ports] = process.argv.slice(2);
if (!node || ports.length === 0) {
  console.error('usage: responder.ts NODE-NAME PORT...');
  process.exit(2);
}
for (const port of ports) {
  createServer((req, res) => {
    res.setHeader('connection', 'close');
    res.end(`${node}\n`);
    req.resume();
  }).listen({ port: Number(port), host: '::', ipv6Only: false });
}
process.on('SIGTERM', () => process.exit(0));
