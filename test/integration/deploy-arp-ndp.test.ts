// The facts behind docs/arp-ndp.md, shown on a real kernel in network namespaces this test creates:
// node A holds a local address on eth0 (what the agent does for the elected node); node B has the same
// address on another interface, kube-ipvs0, as kube-proxy in IPVS mode puts every LoadBalancer address
// on every node. With Linux's default arp_ignore=0, B answers ARP for it too; arp_ignore=1 (what
// docs/arp-ndp.md and kube-proxy's strictARP set) leaves A the only answer. IPv6 NDP needs no sysctl.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const p = `dpl${randomBytes(3).toString('hex')}`;
const [client, a, b] = [`${p}c`, `${p}a`, `${p}b`];
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const inNs = (ns: string, cmd: string, args: string[]) =>
  spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 10_000 });
const macOf = (ns: string) =>
  ip('-n', ns, '-j', 'link', 'show', 'eth0')
    .match(/"address":"([0-9a-f:]+)"/)![1]!
    .toUpperCase();

beforeAll(() => {
  for (const ns of [client, a, b]) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  ip('-n', client, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', client, 'link', 'set', 'br0', 'up');
  ip('-n', client, 'addr', 'add', '192.168.77.1/24', 'dev', 'br0');
  ip('-n', client, 'addr', 'add', 'fd00:77::1/64', 'dev', 'br0', 'nodad');
  for (const [ns, host] of [
    [a, '2'],
    [b, '3'],
  ] as const) {
    ip('link', 'add', `${ns}e`, 'netns', client, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', client, 'link', 'set', `${ns}e`, 'master', 'br0', 'up');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'addr', 'add', `192.168.77.${host}/24`, 'dev', 'eth0');
    ip('-n', ns, 'addr', 'add', `fd00:77::${host}/64`, 'dev', 'eth0', 'nodad');
  }
  // A: the elected node, address with the LAN prefix on eth0; B: kube-proxy IPVS's copy on kube-ipvs0
  ip('-n', a, 'addr', 'add', '192.168.77.100/24', 'dev', 'eth0');
  ip('-n', a, 'addr', 'add', 'fd00:77::100/64', 'dev', 'eth0', 'nodad');
  ip('-n', b, 'link', 'add', 'kube-ipvs0', 'type', 'ifb'); // kube-proxy uses a dummy link; this kernel has none
  ip('-n', b, 'addr', 'add', '192.168.77.100/32', 'dev', 'kube-ipvs0');
  ip('-n', b, 'addr', 'add', 'fd00:77::100/128', 'dev', 'kube-ipvs0', 'nodad');
  // both nodes reachable over the bridge before the first ARP question
  for (const host of ['2', '3'])
    expect(inNs(client, 'arping', ['-c', '1', '-w', '3', '-I', 'br0', `192.168.77.${host}`]).status).toBe(0);
});

afterAll(() => {
  for (const ns of [client, a, b]) spawnSync('ip', ['netns', 'del', ns]);
});

/** MAC addresses that answered ARP requests for the address (arping -w stops after -c replies). */
function arpAnswers(): string[] {
  const run = inNs(client, 'arping', ['-c', '3', '-w', '3', '-I', 'br0', '192.168.77.100']);
  return [
    ...new Set([...run.stdout.matchAll(/reply from 192\.168\.77\.100 \[([0-9A-F:]+)\]/g)].map((m) => m[1]!)),
  ].sort();
}

test('arp_ignore=0 (the kernel default): the node with the address on kube-ipvs0 answers ARP too', () => {
  inNs(b, 'sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=0']);
  expect(arpAnswers()).toEqual([macOf(a), macOf(b)].sort());
});

test('arp_ignore=1: only the node that holds the address on its LAN interface answers', () => {
  inNs(b, 'sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1']);
  expect(arpAnswers()).toEqual([macOf(a)]);
});

test('IPv6 neighbour discovery answers only for addresses on the receiving interface, with no sysctl', () => {
  ip('-n', b, 'link', 'set', 'kube-ipvs0', 'up');
  const run = inNs(client, 'ndisc6', ['-m', '-w', '1500', 'fd00:77::100', 'br0']);
  const answers = [...run.stdout.matchAll(/Target link-layer address: ([0-9A-F:]+)/g)].map((m) => m[1]!);
  expect([...new Set(answers)]).toEqual([macOf(a)]);
});
