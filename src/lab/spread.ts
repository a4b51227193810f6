// Requests from the client namespace to a Service address: which node answered each one.
import { inNetns } from '../exec.ts';

export interface Spread {
  url: string;
  /** node name -> number of answers; "(failed)" counts requests without an answer */
  counts: Record<string, number>;
}

export const urlFor = (address: string, port: number) =>
  `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;

/** Who answered, from one response: the echo pods say `pod=POD node=NODE` (-> "NODE/POD"); the process
 * lab's responders say the node name. */
export function answerKey(line: string): string {
  const t = line.trim();
  if (t === '-' || t === '') return '(failed)';
  const m = /pod=(\S+)\s+node=(\S+)/.exec(t);
  return m ? `${m[2]}/${m[1]}` : t;
}

/** Pure: curl's outputs (one answer per line, "-" for a failed request) -> counts. */
export function countAnswers(lines: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of lines) {
    const key = answerKey(l);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** `n` sequential requests, each a new TCP connection (new source port, so ECMP hashing spreads them). */
export async function requestSpread(clientNetns: string, address: string, port: number, n = 30): Promise<Spread> {
  const url = urlFor(address, port);
  const script = `for i in $(seq ${n}); do curl -s -m 1 "$0" || echo -; done`;
  const out = await inNetns(clientNetns, 'sh', ['-c', script, url], { timeoutMs: n * 2000 + 5000 });
  return { url, counts: countAnswers(out.split('\n').filter((l) => l !== '')) };
}

export const formatSpread = (s: Spread) =>
  Object.entries(s.counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([node, c]) => `${node}:${c}`)
    .join(' ');
