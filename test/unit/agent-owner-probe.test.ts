// The successor's LAN probe against a real HTTP server on loopback: an owner answering 200 is never
// reported; one that stops answering (closed port, or 503 = no longer a candidate) is reported after
// the dead-after time, again on every failed probe, and no more once it answers again or is unwatched;
// one that never answered is never reported; one that only times out (a busy agent) is reported only
// after TIMEOUT_FACTOR times the dead-after time.
import { afterEach, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseIP } from '../../src/api/ip.ts';
import {
  PROBE_STOPPING_INTERVAL_MS,
  recordProbe,
  REFUSED_FACTOR,
  startOwnerProbe,
  TIMEOUT_FACTOR,
  unprobed,
  type OwnerProbe,
} from '../../src/agent/owner-probe.ts';
import { createLogger } from '../../src/log.ts';
import { PROBE_PATH, PROBE_RELEASED, PROBE_STOPPING, RELEASED_HINT_PATH } from '../../src/model/heartbeat.ts';
import { startHealthServer } from '../../src/k8s/health-server.ts';
import { Registry } from 'prom-client';

let probe: OwnerProbe | undefined;
let server: Server | undefined;
afterEach(async () => {
  probe?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
});

/** A stand-in owner agent: answers PROBE_PATH with `status()` (undefined: never answers) and `body()`;
 * counts the probes. */
async function owner(status: () => number | undefined, port = 0, body = () => '') {
  const seen: string[] = [];
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const code = status();
    if (code !== undefined) res.writeHead(code).end(body());
  });
  await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, seen };
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
  return cond();
};

function start(dead: string[], back: string[] = [], deadAfterMs = 200) {
  const logs: string[] = [];
  probe = startOwnerProbe({
    intervalMs: 50,
    deadAfterMs,
    onDead: (o, cause) => dead.push(`${o} ${cause}`),
    onBack: (o) => back.push(o),
    log: createLogger('test', {}, (l) => logs.push(l)),
  });
  return logs;
}

test('an owner that answers 200 is never reported; once its port closes it is, with a log naming it', async () => {
  const { port, seen } = await owner(() => 200);
  const dead: string[] = [];
  const back: string[] = [];
  const logs = start(dead, back);
  probe!.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
  expect(await waitFor(() => seen.length >= 8)).toBe(true);
  expect(seen.every((u) => u === PROBE_PATH)).toBe(true);
  expect(dead).toEqual([]);

  server!.closeAllConnections();
  await new Promise((r) => server!.close(r));
  expect(await waitFor(() => dead.length >= 2)).toBe(true); // reported again on further failures
  // a closed port refuses: the agent is gone
  expect(new Set(dead)).toEqual(new Set(['n2 refused']));
  expect(logs.some((l) => l.includes('owner does not answer on the LAN') && l.includes('"owner":"n2"'))).toBe(true);

  // it answers again (a restarted agent on the same port): no more reports
  await owner(() => 200, port);
  expect(await waitFor(() => logs.some((l) => l.includes('owner answers on the LAN again')))).toBe(true);
  expect(back).toEqual(['n2']);
  const reported = dead.length;
  await sleep(400);
  expect(dead.length).toBe(reported);
});

test('503 (no longer a candidate) counts as silence; an unwatched owner is no longer probed', async () => {
  let code = 200;
  const { port, seen } = await owner(() => code);
  const dead: string[] = [];
  start(dead);
  probe!.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
  expect(await waitFor(() => seen.length >= 2)).toBe(true);
  code = 503;
  expect(await waitFor(() => dead.length > 0)).toBe(true);
  expect(dead[0]).toBe('n2 probe');
  code = 200;
  probe!.watch(new Map());
  const probes = seen.length;
  await sleep(300);
  expect(seen.length).toBeLessThanOrEqual(probes + 1); // at most the one in flight
});

test('an owner that never answered (probe port filtered) is not reported: no claims back and forth', async () => {
  const { port } = await owner(() => 503);
  const dead: string[] = [];
  const logs = start(dead);
  probe!.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
  expect(await waitFor(() => logs.some((l) => l.includes('owner never answered on the LAN')))).toBe(true);
  await sleep(300);
  expect(dead).toEqual([]);
  expect(logs.filter((l) => l.includes('owner never answered')).length).toBe(1);
});

test('an owner that only times out (busy, not gone) is reported after TIMEOUT_FACTOR times the dead-after time', async () => {
  let busy = false;
  const { port, seen } = await owner(() => (busy ? undefined : 200));
  const dead: string[] = [];
  start(dead);
  probe!.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
  expect(await waitFor(() => seen.length >= 2)).toBe(true);
  busy = true;
  const since = Date.now();
  // refused or 503 would be reported after 200 ms; a probe that times out (100 ms here) is no proof
  expect(await waitFor(() => dead.length > 0, 5000)).toBe(true);
  // the last answer came at most one interval (50 ms) before `since`
  expect(Date.now() - since).toBeGreaterThanOrEqual(200 * TIMEOUT_FACTOR - 50);
});

test('a refused probe (no agent listens on the node) reports the owner after REFUSED_FACTOR of the dead-after time; 503 and reset after all of it', () => {
  const deadAfter = 1000;
  const judged = (failure: Parameters<typeof recordProbe>[1], silentMs: number) => {
    const p = unprobed({ ip: parseIP('192.168.1.12')!, port: 7473 });
    recordProbe(p, undefined, 0, deadAfter); // it answered at 0
    return recordProbe(p, failure, silentMs, deadAfter);
  };
  const refused = { error: 'connect ECONNREFUSED 192.168.1.12:7473', timedOut: false, refused: true };
  const reset = { error: 'read ECONNRESET', timedOut: false };
  const unavailable = { error: 'answered 503 (not a candidate)', timedOut: false };
  expect(judged(refused, deadAfter * REFUSED_FACTOR - 1)).toBeUndefined();
  expect(judged(refused, deadAfter * REFUSED_FACTOR)).toBe('dead');
  for (const f of [reset, unavailable]) {
    expect(judged(f, deadAfter * REFUSED_FACTOR)).toBeUndefined();
    expect(judged(f, deadAfter)).toBe('dead');
  }
});

test('a closed port is reported as refused: after REFUSED_FACTOR of the dead-after time, not all of it', async () => {
  const { port, seen } = await owner(() => 200);
  const dead: string[] = [];
  const logs = start(dead, [], 2000);
  probe!.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
  expect(await waitFor(() => seen.length >= 2)).toBe(true);
  server!.closeAllConnections();
  await new Promise((r) => server!.close(r));
  expect(await waitFor(() => dead.length > 0)).toBe(true);
  expect(dead[0]).toBe('n2 refused');
  const report = logs.find((l) => l.includes('owner does not answer on the LAN'))!;
  expect(report).toContain('ECONNREFUSED');
  // silentMs: from the last answer to the report (dead-after 2 s, probes every 50 ms)
  const { silentMs } = JSON.parse(report) as { silentMs: number };
  expect(silentMs).toBeGreaterThanOrEqual(2000 * REFUSED_FACTOR);
  expect(silentMs).toBeLessThan(2000);
});

test('a prober whose own event loop is blocked longer than the timeout does not take a live owner for a dead one', async () => {
  // the owner in another process, so it answers while this one is blocked
  const child = spawn(process.execPath, [
    '-e',
    "require('http').createServer((q, r) => setTimeout(() => r.end(), 30)).listen(0, '127.0.0.1', function () { console.log(this.address().port) })",
  ]);
  try {
    const port = Number(await new Promise<string>((r) => child.stdout.once('data', (d: Buffer) => r(d.toString()))));
    const dead: string[] = [];
    start(dead);
    probe!.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
    await sleep(200);
    // blocked 300 ms at a time (3 times the probe timeout) for 1.5 s: an answer (30 ms after the
    // request) waits on the socket while the timer is due; TIMEOUT_FACTOR x 200 ms of timeouts would
    // report the owner
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const until = Date.now() + 300;
      while (Date.now() < until);
      await new Promise((r) => setImmediate(r));
    }
    await sleep(100);
    expect(dead).toEqual([]);
  } finally {
    child.kill();
  }
});

test('an owner that answers released (stopping, addresses withdrawn) is reported at once, answered before or not', async () => {
  const { port } = await owner(
    () => 503,
    0,
    () => `${PROBE_RELEASED}\n`,
  );
  const dead: string[] = [];
  start(dead);
  const since = Date.now();
  probe!.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
  expect(await waitFor(() => dead.length > 0)).toBe(true);
  expect(Date.now() - since).toBeLessThan(200); // the dead-after time
});

test('a released hint over HTTP makes the successor probe that owner at once, not at its next round; a hint for another owner is refused', async () => {
  let released = false;
  const { port } = await owner(
    () => (released ? 503 : 200),
    0,
    () => (released ? PROBE_RELEASED : ''),
  );
  const dead: string[] = [];
  const options = {
    intervalMs: 2000,
    deadAfterMs: 5000,
    onBack: () => undefined,
    log: createLogger('test', {}, () => undefined),
  };
  probe = startOwnerProbe({ ...options, onDead: (o, cause) => dead.push(`${o} ${cause}`) });
  const successor = await startHealthServer(
    '127.0.0.1',
    0,
    {
      healthy: () => true,
      ready: () => true,
      more: { [RELEASED_HINT_PATH]: (q) => probe!.probeNow(q.get('owner') ?? '') || 'not a successor of that owner' },
    },
    new Registry(),
  );
  try {
    probe.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
    await sleep(100); // the first round was answered 200; the next is 2 s away
    released = true;
    const since = Date.now();
    // the owner's side, after its own probe stopped (as a stopping agent's)
    const owners = startOwnerProbe({ ...options, onDead: () => undefined });
    owners.stop();
    owners.tellReleased('n2', [{ ip: parseIP('127.0.0.1')!, port: successor.port }]);
    expect(await waitFor(() => dead.length > 0, 1500)).toBe(true);
    expect(dead).toEqual(['n2 released']);
    expect(Date.now() - since).toBeLessThan(500);
    const other = await fetch(`http://127.0.0.1:${successor.port}${RELEASED_HINT_PATH}?owner=n9`, { method: 'POST' });
    expect([other.status, await other.text()]).toEqual([503, 'not a successor of that owner\n']);
  } finally {
    successor.server.closeAllConnections();
    successor.server.close();
  }
});

test('an owner that answers stopping is asked again at once, not after the interval, and reported released as soon as it says so', async () => {
  const releasedAt = Date.now() + 150;
  const { port, seen } = await owner(
    () => 503,
    0,
    () => (Date.now() < releasedAt ? PROBE_STOPPING : PROBE_RELEASED),
  );
  const dead: string[] = [];
  probe = startOwnerProbe({
    intervalMs: 2000,
    deadAfterMs: 5000,
    onDead: (o, cause) => dead.push(`${o} ${cause}`),
    onBack: () => undefined,
    log: createLogger('test', {}, () => undefined),
  });
  probe.watch(new Map([['n2', { ip: parseIP('127.0.0.1')!, port }]]));
  expect(await waitFor(() => dead.length > 0, 1500)).toBe(true);
  expect(dead[0]).toBe('n2 released');
  // within a few re-probes of the release, not the 2 s interval
  expect(Date.now() - releasedAt).toBeLessThan(10 * PROBE_STOPPING_INTERVAL_MS);
  expect(seen.length).toBeGreaterThan(150 / (2 * PROBE_STOPPING_INTERVAL_MS));
});
