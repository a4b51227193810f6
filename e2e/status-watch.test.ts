// `purelb status --watch` in a real terminal (tmux) against the process lab (bird/bgp, 3 nodes, the FRR ToR):
// a Service created while it runs appears with its address, announcing nodes and the ToR's next hops; deleted,
// it goes; Ctrl-C ends it with exit status 0, the last table left on the screen and the cursor shown again.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { repoRoot } from '../src/lab/cluster/binaries.ts';
import type { Lab } from '../src/lab/lab.ts';
import { VIRTUAL_GROUP, type SampleService } from '../src/lab/samples.ts';
import {
  addressesOf,
  allNodes,
  applyService,
  deleteService,
  startBackendLab,
  stopBackendLab,
  waitFor,
} from './harness.ts';

const session = `plb-watch-${randomBytes(3).toString('hex')}`;
const tmux = async (...args: string[]) => (await promisify(execFile)('tmux', args)).stdout;
/** The pane as the user sees it. */
const screen = () => tmux('capture-pane', '-p', '-t', session);
const pane = async (format: string) => (await tmux('display-message', '-p', '-t', session, format)).trim();

const svc: SampleService = {
  name: 'e2e-watch',
  group: VIRTUAL_GROUP,
  etp: 'Cluster',
  families: ['IPv4'],
  port: 80,
  endpointNodes: [0, 1, 2],
};
let lab: Lab;

beforeAll(async () => {
  lab = await startBackendLab('bird', 'bgp', 'w');
  // a wide terminal; the shell in it reports purelb's exit status and keeps the pane (and its cursor state)
  await tmux('new-session', '-d', '-s', session, '-x', '260', '-y', '60');
  const argv = [process.execPath, join(repoRoot, 'bin', 'purelb.js'), 'status', '--watch'];
  argv.push('--kubeconfig', lab.kubeconfig, '-n', lab.namespace, '--upstream', lab.plan.torNetns);
  await tmux('respawn-pane', '-k', '-t', session, `bash -c '${argv.join(' ')}; echo "exit status $?"; exec sleep 600'`);
}, 180_000);

afterAll(async () => {
  await tmux('kill-session', '-t', session).catch(() => undefined);
  if (lab) await deleteService(lab, svc);
  await stopBackendLab(lab);
}, 60_000);

test('the table is redrawn as a Service comes and goes; Ctrl-C quits cleanly', async () => {
  // the first frame: the lab's pools and its three nodes with their BGP sessions up
  await waitFor(
    'the first frame with every node Established',
    async () => {
      const text = await screen();
      return allNodes(lab).every((n) =>
        new RegExp(`^${n}\\s+live\\s+bird/bgp\\s+Applied\\s+\\S*=Established`, 'm').test(text),
      );
    },
    60_000,
  );
  expect(await screen()).not.toContain(`default/${svc.name}`);

  await applyService(lab, svc);
  const [address] = await addressesOf(lab, svc.name, 1);
  const nodes = allNodes(lab).join(',');
  // announced by every node (their routing status), none of them ineligible (-), and installed by the ToR as
  // ECMP next hops (--upstream)
  const row = new RegExp(
    `^default/${svc.name}\\s+${address!.replace(/\./g, '\\.')}\\s+virtual\\s+virtual\\s+Cluster\\s+${nodes}\\s+-\\s+${nodes}$`,
    'm',
  );
  await waitFor(
    `the row of ${svc.name} (${address}) announced by ${nodes}`,
    async () => {
      const text = await screen();
      if (row.test(text)) return true;
      throw new Error(`row now: ${text.split('\n').find((l) => l.startsWith(`default/${svc.name}`)) ?? '(none)'}`);
    },
    60_000,
  );

  await deleteService(lab, svc);
  await waitFor(`the row of ${svc.name} gone`, async () => !(await screen()).includes(`default/${svc.name}`), 60_000);

  expect(await pane('#{cursor_flag}')).toBe('0'); // hidden while redrawing in place
  await tmux('send-keys', '-t', session, 'C-c');
  // the terminal echoes ^C where the cursor is, just before the shell's line
  await waitFor('purelb status --watch exits', async () => /exit status \d+$/m.test(await screen()), 15_000);
  expect(await screen()).toMatch(/exit status 0$/m);
  expect(await pane('#{cursor_flag}')).toBe('1');
  // the last table stays on the screen, as kubectl get -w leaves its output
  expect(await screen()).toMatch(/^NODES$/m);
}, 240_000);
