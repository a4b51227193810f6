// BIRD's control socket spoken directly (what birdc does): every reply line starts with a 4-digit code
// followed by "-" (more lines follow) or " " (last line); a line starting with a space continues the
// previous code. 0xxx = ok, 1xxx = table row, 2xxx = table heading, 8xxx/9xxx = errors.
import { createConnection } from 'node:net';

export interface BirdLine {
  code: number;
  text: string;
}

export interface BirdReply {
  /** Code of the final line. */
  code: number;
  lines: BirdLine[];
}

export const isBirdError = (code: number) => code >= 8000;

/** Splits a complete reply (after the welcome line) into coded lines; returns undefined while incomplete. */
export function parseBirdReply(buffer: string): BirdReply | undefined {
  const lines: BirdLine[] = [];
  let lastCode = 0;
  const raw = buffer.split('\n');
  raw.pop(); // the part after the last newline is not a complete line yet
  for (const line of raw) {
    const m = /^(\d{4})([ -])(.*)$/.exec(line);
    if (m) {
      lastCode = Number(m[1]);
      lines.push({ code: lastCode, text: m[3]! });
      if (m[2] === ' ') return { code: lastCode, lines };
    } else {
      lines.push({ code: lastCode, text: line.replace(/^ /, '') });
    }
  }
  return undefined;
}

/** Sends one command and resolves with the whole reply; rejects when the socket fails or times out. */
export function birdCommand(socketPath: string, command: string, timeoutMs = 30_000): Promise<BirdReply> {
  if (/[\r\n]/.test(command)) return Promise.reject(new Error('a BIRD command is a single line'));
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buffer = '';
    let welcomed = false;
    const timer = setTimeout(
      () => finish(new Error(`BIRD did not answer "${command}" within ${timeoutMs} ms on ${socketPath}`)),
      timeoutMs,
    );
    const finish = (err?: Error, reply?: BirdReply) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    sock.setEncoding('utf8');
    sock.on('error', (err) => finish(new Error(`BIRD control socket ${socketPath}: ${err.message}`)));
    sock.on('close', () => finish(new Error(`BIRD closed ${socketPath} before answering "${command}"`)));
    sock.on('data', (chunk: string) => {
      buffer += chunk;
      if (!welcomed) {
        const nl = buffer.indexOf('\n');
        if (nl < 0) return;
        const welcome = buffer.slice(0, nl);
        if (!welcome.startsWith('0001')) return finish(new Error(`unexpected BIRD greeting: ${welcome}`));
        welcomed = true;
        buffer = buffer.slice(nl + 1);
        sock.write(`${command}\n`);
      }
      const reply = parseBirdReply(buffer);
      if (reply) finish(undefined, reply);
    });
  });
}

export const replyText = (r: BirdReply) => r.lines.map((l) => l.text).join('\n');
