// Runs a daemon tool (bird, birdc, vtysh, frr-reload.py) and returns its exit code and output instead
// of throwing, because a non-zero exit is an expected answer (a rejected config), not a crash.
import { execFile } from 'node:child_process';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runTool(cmd: string, args: string[], timeoutMs = 30_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : -1
        : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === -1 ? err.message : '') });
    });
  });
}

/** The useful part of a tool's complaint, for status and events: its ERROR/WARNING lines if it logs
 * (frr-reload.py), else the end of its output (the error comes last). */
export function toolError(r: ToolResult): string {
  const text = [r.stderr, r.stdout]
    .map((t) => t.trim())
    .filter(Boolean)
    .join('\n');
  const flagged = text.split('\n').filter((l) => /\b(ERROR|WARNING|CRITICAL)\b|% /.test(l));
  const out = (flagged.length ? flagged.join('\n') : text) || `exit code ${r.code}`;
  return out.length > 2000 ? `...${out.slice(-2000)}` : out;
}
