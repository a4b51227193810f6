// The lab's ledger: every namespace, host link and directory `lab up` creates is written here BEFORE it
// is created, and child processes are recorded by pid (src/lab/cluster/processes.ts). `lab down` and a
// crashed `up` are cleaned from the ledger by name and pid only, never by pattern.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readState, stopRun } from './cluster/processes.ts';
import { removeCgroups } from './kube/node.ts';

export const LAB_ROOT = process.env.PURELB_LAB_ROOT ?? '/run/purelb-lab';

export interface Ledger {
  name: string;
  /** pid of the `lab up` that wrote it (while it is alive, another `up` of the same name is refused) */
  ownerPid: number;
  netns: string[];
  /** links in the host namespace (the management bridge and its veth ends) */
  hostLinks: string[];
  /** directories outside the lab dir (the real-cluster nodes' containerd and kubelet state, on disk) */
  dirs: string[];
  /** cgroups (one name in every hierarchy) of the real-cluster nodes: their pods, shims and daemons */
  cgroups?: string[];
  /** free-form facts `status` needs (plan, kubeconfig path, ...) */
  info: Record<string, unknown>;
}

export const labDir = (name: string) => join(LAB_ROOT, name);
const ledgerFile = (name: string) => join(labDir(name), 'ledger.json');
/** The run dir of the lab's processes (pids and logs, managed by processes.ts). */
export const procDir = (name: string) => join(labDir(name), 'procs');
export const clusterDir = (name: string) => join(labDir(name), 'cluster');

export function readLedger(name: string): Ledger | undefined {
  const file = ledgerFile(name);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Ledger) : undefined;
}

export function openLedger(name: string): Ledger {
  mkdirSync(procDir(name), { recursive: true });
  const ledger: Ledger = { name, ownerPid: process.pid, netns: [], hostLinks: [], dirs: [], info: {} };
  writeLedger(ledger);
  return ledger;
}

export function writeLedger(ledger: Ledger): void {
  writeFileSync(ledgerFile(ledger.name), JSON.stringify(ledger, null, 2));
}

/** Records a resource before creating it, so a crash between the two still cleans it up. */
export function record(ledger: Ledger, kind: 'netns' | 'hostLinks' | 'dirs' | 'cgroups', value: string): void {
  const list = (ledger[kind] ??= []);
  if (!list.includes(value)) list.push(value);
  writeLedger(ledger);
}

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

const netnsExists = (name: string) => existsSync(`/run/netns/${name}`);

/** Stops the recorded processes, deletes recorded namespaces, links and dirs, then the lab dir. */
export async function cleanLedger(name: string, log: (line: string) => void = () => {}): Promise<boolean> {
  const ledger = readLedger(name);
  if (!ledger && !existsSync(labDir(name))) return false;
  if (existsSync(procDir(name))) {
    const n = readState(procDir(name)).processes.length;
    log(`stopping ${n} lab processes`);
    await stopRun(procDir(name), 5000);
  }
  if (ledger?.cgroups?.length) {
    log(`stopping the pods and container shims of ${ledger.cgroups.length / 2} nodes`);
    await removeCgroups(ledger.cgroups);
  }
  if (existsSync(clusterDir(name))) {
    log('stopping kube-apiserver and etcd');
    await stopRun(clusterDir(name), 5000);
  }
  for (const ns of ledger?.netns ?? []) {
    if (netnsExists(ns)) {
      log(`deleting network namespace ${ns}`);
      quiet('ip', ['netns', 'del', ns]);
    }
  }
  for (const link of ledger?.hostLinks ?? []) quiet('ip', ['link', 'del', link]);
  // nothing is mounted below these any more: the node mount namespaces died with their last process
  // (--one-file-system: were anything still mounted, it is left alone rather than emptied)
  for (const dir of ledger?.dirs ?? []) quiet('rm', ['-rf', '--one-file-system', dir]);
  rmSync(labDir(name), { recursive: true, force: true });
  return true;
}
