// The agent's iproute2 adapter against the real `ip` in a namespace of its own: reading only some
// interfaces (the stop's withdrawal) returns exactly their addresses, and leaves out a missing one.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const ns = `purelb-iproute-${randomBytes(3).toString('hex')}`;
const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  ip('link', 'add', 'lan0', 'type', 'ifb');
  ip('address', 'add', '10.1.2.3/24', 'dev', 'lan0');
  ip('address', 'add', '10.1.2.240/24', 'dev', 'lan0');
  ip('link', 'add', 'lb0', 'type', 'ifb');
  ip('address', 'add', '10.9.9.9/32', 'dev', 'lb0');
});
afterAll(() => {
  execFileSync('ip', ['netns', 'del', ns]);
});

/** What the adapter's readLinks returns inside the namespace. */
function readLinks(ifnames?: string[]): { ifname: string; addrs: { ip: string }[] }[] {
  const script = `import('./src/agent/iproute.ts').then(async ({ iproute2 }) => process.stdout.write(JSON.stringify(await iproute2.readLinks(${JSON.stringify(ifnames)}))))`;
  return JSON.parse(
    execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { encoding: 'utf8' }),
  ) as { ifname: string; addrs: { ip: string }[] }[];
}

test('readLinks of some interfaces: only theirs, a missing one left out; without names: every interface', () => {
  expect(readLinks(['lan0', 'missing0']).map((l) => [l.ifname, l.addrs.map((a) => a.ip)])).toEqual([
    ['lan0', ['10.1.2.3', '10.1.2.240']],
  ]);
  expect(readLinks().map((l) => l.ifname)).toEqual(['lo', 'lan0', 'lb0']);
});
