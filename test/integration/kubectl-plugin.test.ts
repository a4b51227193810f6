// `kubectl purelb`: the plugin run by the real kubectl against the real apiserver, with kubectl's habits
// (KUBECONFIG, a list of them, --context, -n), and shell completion driven for real: bash running the script
// `purelb completion bash` prints, kubectl's own completion asking kubectl_complete-purelb, and zsh's line
// editor completing with `purelb completion zsh`.
import { GROUP, VERSION } from '../../src/api/names.ts';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { k8sBinDir, repoRoot } from '../../src/lab/cluster/binaries.ts';
import type { StatusReport } from '../../src/status/report.ts';
import { adminKubeConfig, applyCRDs, cleanUpNamespaces, freshNamespace, mergePatch, waitFor } from '../harness/kube.ts';

let kc: KubeConfig;
let ns: string;
let svcNs: string;
let dir: string;
/** PATH with purelb and the plugin as npm installs them, kubectl, and the system's directories. */
let path: string;
/** Two contexts: "lab" (the test apiserver) and "broken" (nothing listens there), the current one. */
let twoContexts: string;
/** Only "lab", current: the file KUBECONFIG names when no --context is given. */
let labOnly: string;
let brokenServer: string;

const kubectl = join(k8sBinDir(), 'kubectl');

async function run(
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, {
      env: { PATH: path, HOME: dir, ...env },
      // a completion that never comes (the zsh driver waits for the line) fails the test instead of hanging it
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}

function writeKubeConfig(name: string, contexts: { name: string; server: string }[], current: string): string {
  const admin = adminKubeConfig();
  const cluster = admin.getCurrentCluster()!;
  const user = admin.getCurrentUser()!;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: contexts.map((c) => ({ ...cluster, name: c.name, server: c.server })),
    users: [user],
    contexts: contexts.map((c) => ({ name: c.name, cluster: c.name, user: user.name })),
    currentContext: current,
  });
  const file = join(dir, name);
  writeFileSync(file, out.exportConfig());
  return file;
}

beforeAll(async () => {
  kc = adminKubeConfig();
  await applyCRDs(kc);
  ns = await freshNamespace(kc, 'plugin');
  svcNs = await freshNamespace(kc, 'plugin-svc');
  const group = { group: GROUP, version: VERSION, namespace: ns, plural: 'servicegroups', name: 'tenant' };
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...group,
    body: {
      apiVersion: 'purelb.io/v1',
      kind: 'ServiceGroup',
      metadata: { name: 'tenant' },
      spec: { local: { v4pool: { subnet: '10.210.0.0/24', pool: '10.210.0.10-10.210.0.19', aggregation: '/32' } } },
    },
  });
  await kc
    .makeApiClient(CustomObjectsApi)
    .patchNamespacedCustomObjectStatus(
      { ...group, body: { status: { allocatedIPv4: 1, availableIPv4: 9 } } },
      mergePatch,
    );
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedService({
    namespace: svcNs,
    body: {
      metadata: {
        name: 'web',
        annotations: { 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'tenant' },
      },
      spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: [{ port: 80, protocol: 'TCP' }] },
    },
  });
  await core.patchNamespacedServiceStatus(
    { name: 'web', namespace: svcNs, body: { status: { loadBalancer: { ingress: [{ ip: '10.210.0.10' }] } } } },
    mergePatch,
  );

  dir = mkdtempSync(join(tmpdir(), 'purelb-plugin-'));
  // installed as docs/cli.md says: npm's global install of the checkout links package.json's "bin" entries
  // (purelb, kubectl-purelb, kubectl_complete-purelb) into <prefix>/bin
  const prefix = join(dir, 'npm-global');
  await promisify(execFile)('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', repoRoot]);
  const bin = join(prefix, 'bin');
  symlinkSync(kubectl, join(bin, 'kubectl'));
  // the system's PATH (its node is 20): the launcher must find Node 24 on its own
  path = [bin, '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);
  const server = kc.getCurrentCluster()!.server;
  // a port nothing listens on (taken from the kernel, then closed): connections are refused
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  brokenServer = `https://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));
  twoContexts = writeKubeConfig(
    'two',
    [
      { name: 'lab', server },
      { name: 'broken', server: brokenServer },
    ],
    'broken',
  );
  labOnly = writeKubeConfig('lab-only', [{ name: 'lab', server }], 'lab');
});

afterAll(async () => {
  await cleanUpNamespaces();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pools = (stdout: string) => (JSON.parse(stdout) as StatusReport).pools.map((p) => [p.group, p.ipv4]);

test('kubectl purelb status reads the cluster of KUBECONFIG, in the namespace of -n', async () => {
  const r = await run('kubectl', ['purelb', 'status', '-n', ns, '-o', 'json'], { KUBECONFIG: labOnly });
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(pools(r.stdout)).toEqual([['tenant', { used: 1, free: 9 }]]);
  const services = (JSON.parse(r.stdout) as StatusReport).services.filter((s) => s.service.startsWith(svcNs));
  expect(services.map((s) => [s.service, s.address, s.group])).toEqual([[`${svcNs}/web`, '10.210.0.10', 'tenant']]);
  // another namespace has no pools: -n is what selects them
  const other = await run('kubectl', ['purelb', 'status', '--namespace', svcNs, '-o', 'json'], { KUBECONFIG: labOnly });
  expect(pools(other.stdout)).toEqual([]);
});

test('kubectl purelb status --context picks a context of the kubeconfig; the broken current one fails naming it', async () => {
  const good = await run('kubectl', ['purelb', 'status', '--context', 'lab', '-n', ns], { KUBECONFIG: twoContexts });
  expect(good.code).toBe(0);
  expect(good.stdout).toMatch(/^tenant\s+\?\s+1\/9\s+-$/m);
  expect(good.stdout).toMatch(new RegExp(`^${svcNs}/web\\s+10\\.210\\.0\\.10\\s+tenant\\s`, 'm'));

  const broken = await run('kubectl', ['purelb', 'status', '-n', ns], { KUBECONFIG: twoContexts });
  expect(broken.code).toBe(1);
  expect(broken.stderr).toContain(`purelb status: reading from ${brokenServer} (context "broken") failed: `);
  expect(broken.stderr).toMatch(/failed: connect ECONNREFUSED \S+; check --context, --kubeconfig or KUBECONFIG/);

  const unknown = await run('kubectl', ['purelb', 'status', '--context', 'nope'], { KUBECONFIG: twoContexts });
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain(`--context nope: no such context in ${twoContexts} (contexts: lab, broken)`);
});

test('KUBECONFIG as a list of files is merged as kubectl does (first wins, missing files skipped); --kubeconfig overrides it', async () => {
  const list = [join(dir, 'missing'), labOnly, twoContexts].join(delimiter);
  // the first file's current context (lab) wins over the second's (broken)
  const merged = await run('kubectl', ['purelb', 'status', '-n', ns, '-o', 'json'], { KUBECONFIG: list });
  expect(merged).toMatchObject({ code: 0, stderr: '' });
  expect(pools(merged.stdout)).toEqual([['tenant', { used: 1, free: 9 }]]);
  // the second file's contexts are there too
  const second = await run('kubectl', ['purelb', 'status', '--context', 'broken', '-n', ns], { KUBECONFIG: list });
  expect(second.code).toBe(1);
  expect(second.stderr).toContain('(context "broken")');
  const explicit = await run('kubectl', ['purelb', 'status', '--kubeconfig', labOnly, '-n', ns, '-o', 'json'], {
    KUBECONFIG: twoContexts,
  });
  expect(pools(explicit.stdout)).toEqual([['tenant', { used: 1, free: 9 }]]);
});

/** Runs bash's completion of `line` (the cursor at its end) through the function `setup` registers. */
async function bashComplete(setup: string, fn: string, line: string, env: Record<string, string> = {}) {
  const script = `${setup}
line=${JSON.stringify(line)}
read -r -a COMP_WORDS <<<"$line"
[[ $line == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMP_LINE=$line; COMP_POINT=\${#line}
${fn} "\${COMP_WORDS[0]}" "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await run('bash', ['-c', script], env);
  // compopt (cobra's scripts set nospace etc. with it) only works under readline's completion; here the
  // function is called directly, so its complaint is the one thing allowed on stderr
  expect(r.stderr.replace(/^.*compopt: not currently executing completion function\n/gm, '')).toBe('');
  return r.stdout.split('\n').filter((l) => l !== '');
}

const PURELB_BASH = 'source <(purelb completion bash)';

test('purelb completion bash registers _purelb; it completes commands, options, option values and contexts', async () => {
  const registered = await run('bash', ['-c', `${PURELB_BASH}; complete -p purelb`]);
  expect(registered.stdout.trim()).toBe('complete -F _purelb purelb');
  expect(await bashComplete(PURELB_BASH, '_purelb', 'purelb st')).toEqual(['status']);
  expect(await bashComplete(PURELB_BASH, '_purelb', 'purelb status --u')).toEqual(['--upstream', '--upstream-vty']);
  // the options are status's own definitions: --watch and --context are there, -n given once is not offered again
  const opts = await bashComplete(PURELB_BASH, '_purelb', 'purelb status -n x --');
  expect(opts).toEqual(expect.arrayContaining(['--kubeconfig', '--context', '--output', '--watch']));
  expect(opts).not.toContain('--namespace');
  expect(await bashComplete(PURELB_BASH, '_purelb', 'purelb status -o ')).toEqual(['table', 'json']);
  expect(await bashComplete(PURELB_BASH, '_purelb', 'purelb status --context ', { KUBECONFIG: twoContexts })).toEqual([
    'lab',
    'broken',
  ]);
  expect(await bashComplete(PURELB_BASH, '_purelb', 'purelb lab up --daemon g')).toEqual(['gobgp']);
});

test("kubectl's own bash completion completes `kubectl purelb` through kubectl_complete-purelb", async () => {
  // kubectl's script needs the bash-completion package, as on any machine where kubectl completion works
  const setup = 'source /usr/share/bash-completion/bash_completion; source <(kubectl completion bash)';
  expect(await bashComplete(setup, '__start_kubectl', 'kubectl purelb sta')).toEqual(['status']);
  expect(await bashComplete(setup, '__start_kubectl', 'kubectl purelb status --wa')).toEqual(['--watch']);
  expect(
    await bashComplete(setup, '__start_kubectl', 'kubectl purelb status --context b', { KUBECONFIG: twoContexts }),
  ).toEqual(['broken']);
});

/**
 * Types `line` and TAB into an interactive zsh (a pseudo-terminal from zsh/zpty) that loaded
 * `purelb completion zsh` after compinit, and returns the line as zle left it (a key bound to a widget
 * prints it once the completion is done: zle handles keys in order).
 */
async function zshComplete(line: string, env: Record<string, string> = {}): Promise<string> {
  const driver = `zmodload zsh/zpty
zpty z 'PS1="> " zsh -f -i'
zpty -w z 'autoload -U compinit && compinit -u -D && source <(purelb completion zsh)'
zpty -w z 'dumpbuf() { print -r -- "@@$BUFFER@@" }; zle -N dumpbuf; bindkey "^G" dumpbuf'
zpty -w -n z "$1"$'\\t\\a'
zpty -r -m z out '*@@purelb*@@*'
print -r -- "purelb\${\${out##*@@purelb}%%@@*}"
zpty -d z`;
  const r = await run('zsh', ['-f', '-c', driver, 'zsh', line], env);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  return r.stdout.replace(/\n$/, '');
}

test('purelb completion zsh completes commands, options and their values in a real zsh line editor', async () => {
  expect(await zshComplete('purelb st')).toBe('purelb status ');
  expect(await zshComplete('purelb status --cont')).toBe('purelb status --context ');
  expect(await zshComplete('purelb status -o j')).toBe('purelb status -o json ');
  expect(await zshComplete('purelb status --context b', { KUBECONFIG: twoContexts })).toBe(
    'purelb status --context broken ',
  );
});

test('kubectl purelb status -w without a terminal prints a new frame per change and exits 0 on SIGINT', async () => {
  const child = spawn('kubectl', ['purelb', 'status', '-w', '-n', ns], {
    env: { PATH: path, HOME: dir, KUBECONFIG: labOnly },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // each frame ends with a "---" line; only changed frames are printed
  const frames = () => out.split('\n---\n').slice(0, -1);
  await waitFor('the first frame', async () => frames().length >= 1 && frames()[0]!.includes('tenant'));
  expect(frames()[0]).not.toContain(`${svcNs}/api`);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedService({
    namespace: svcNs,
    body: {
      metadata: {
        name: 'api',
        annotations: { 'purelb.io/allocated-by': 'PureLB', 'purelb.io/allocated-from': 'tenant' },
      },
      spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: [{ port: 443, protocol: 'TCP' }] },
    },
  });
  await core.patchNamespacedServiceStatus(
    { name: 'api', namespace: svcNs, body: { status: { loadBalancer: { ingress: [{ ip: '10.210.0.11' }] } } } },
    mergePatch,
  );
  await waitFor('a frame with the new Service', async () =>
    new RegExp(`^${svcNs}/api\\s+10\\.210\\.0\\.11\\s+tenant\\s`, 'm').test(frames().at(-1) ?? ''),
  );
  const seen = frames();
  // consecutive frames always differ: an unchanged report is not printed again
  for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
  child.kill('SIGINT');
  expect(await exited).toBe(0);
});

test('kubectl purelb status -w on an unreachable context says it is waiting and why, never an empty table', async () => {
  const child = spawn('kubectl', ['purelb', 'status', '-w', '--context', 'broken', '-n', ns], {
    env: { PATH: path, HOME: dir, KUBECONFIG: twoContexts },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor('a frame naming every failing watch', async () =>
    ['services', 'serviceGroups', 'leases', 'routingStatuses', 'endpointSlices'].every((k) =>
      out.includes(`! watch ${k}: `),
    ),
  );
  expect(out).toMatch(/^waiting for the apiserver to list every kind$/m);
  expect(out).not.toContain('POOLS');
  child.kill('SIGINT');
  expect(await exited).toBe(0);
});
