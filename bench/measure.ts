// What the benchmarks read from outside the code they measure: a process's CPU time and RSS from
// /proc, and the apiserver's own counters from its /metrics.
import { readFileSync } from 'node:fs';
import { kubectl } from '../test/harness/deploy.ts';

const TICKS_PER_S = 100; // USER_HZ on Linux

/** User + system CPU seconds a process has used. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S; // utime, stime
}

export const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** The apiserver's /metrics text, read as the admin of `kubeconfig`. */
export async function apiserverMetrics(kubeconfig: string): Promise<string> {
  return (await kubectl(['get', '--raw', '/metrics'], { kubeconfig })).stdout;
}

/** A counter's samples summed by a key built from their labels (an undefined key skips the sample). */
export function sumCounter(
  metrics: string,
  name: string,
  key: (labels: Record<string, string>) => string | undefined,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /^[^{]+\{(.*)\} ([\d.e+-]+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    const k = key(labels);
    if (k !== undefined) out.set(k, (out.get(k) ?? 0) + Number(m[2]));
  }
  return out;
}

/** A process's resident memory from /proc/<pid>/smaps_rollup, in MiB: anonymous (heaps, V8's spaces,
 * malloc) and file-backed (the node binary's and libraries' pages). */
export function residentMiB(pid: number): { rss: number; anonymous: number; file: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  const [rss, anonymous] = [kib('Rss') / 1024, kib('Anonymous') / 1024];
  return { rss, anonymous, file: rss - anonymous };
}

/** The NODE_OPTIONS a manifest's first container is given (the benches run the components under them). */
export function manifestNodeOptions(file: string): string {
  const match = /- name: NODE_OPTIONS\b[^\n]*\n\s+value: "?([^"\n]+)"?/.exec(readFileSync(file, 'utf8'));
  if (!match) throw new Error(`${file} sets no NODE_OPTIONS: the bench runs the component under the manifest's`);
  return match[1]!.trim();
}

/** Where a process's memory goes: /proc (resident anonymous vs file-backed) and, when the process was
 * started with NODE_OPTIONS=--import=<memoryReportPreload>, V8's own account (its heap spaces), which
 * the preload writes as one line to the process's stderr on SIGUSR2; `stderr` reads what it wrote. */
export async function memoryBreakdown(pid: number, stderr: () => string): Promise<string> {
  const r = residentMiB(pid);
  // without the preload, SIGUSR2 would end the process
  const preloaded = readFileSync(`/proc/${pid}/environ`, 'utf8').includes(memoryReportPreload);
  const before = stderr().length;
  if (preloaded) process.kill(pid, 'SIGUSR2');
  let line: string | undefined;
  for (let i = 0; i < 50 && preloaded && !line; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    line = stderr()
      .slice(before)
      .split('\n')
      .find((l) => l.includes('"msg":"memory report"'));
  }
  const proc = `RSS ${r.rss.toFixed(0)} MiB = ${r.anonymous.toFixed(0)} anonymous + ${r.file.toFixed(0)} file-backed`;
  if (!line) return `${proc}; no V8 report (start it with NODE_OPTIONS=--import=${memoryReportPreload})`;
  const v = JSON.parse(line) as {
    heapTotal: number;
    heapUsed: number;
    external: number;
    spaces: Record<string, { size: number; used: number }>;
  };
  const spaces = Object.entries(v.spaces)
    .filter(([, s]) => s.size >= 0.5)
    .map(([name, s]) => `${name.replace(/_space$/, '')} ${s.used}/${s.size}`)
    .join(', ');
  return `${proc}; V8 heap ${v.heapUsed} used of ${v.heapTotal} MiB (used/size: ${spaces}), external ${v.external} MiB`;
}

export const memoryReportPreload = new URL('./memory-report.js', import.meta.url).pathname;

/** The flags node gets before the program in a Dockerfile target's ENTRYPOINT (`--compiled` runs the
 * program as that image does). */
export function imageNodeFlags(target: 'allocator' | 'agent'): string[] {
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  const stage = dockerfile.split(/^FROM /m).find((s) => s.includes(` AS ${target}\n`));
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(stage ?? '');
  if (!entry) throw new Error(`Dockerfile: no ENTRYPOINT in the stage of target ${target}`);
  const argv = JSON.parse(entry[1]!) as string[];
  return argv.slice(1, argv.indexOf('/app/bin/purelb.js'));
}
