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
