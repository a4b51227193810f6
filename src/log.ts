// Structured JSON logs, one object per line on stderr: {"ts","level","component","msg",...fields}.
// Fields name the object they are about (e.g. {service: "ns/name"}).

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function threshold(): number {
  const level = (process.env.PURELB_LOG_LEVEL ?? 'info') as Level;
  return order[level] ?? order.info;
}

/** The one text of an error: its message (an Error), else the value as text. Log fields get this
 * automatically (pass the error itself); messages for users and HTTP answers call it. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
}

function errorFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? errorText(v) : v;
  return out;
}

export function createLogger(
  component: string,
  base: Record<string, unknown> = {},
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Logger {
  const emit = (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (order[level] < threshold()) return;
    write(JSON.stringify({ ts: new Date().toISOString(), level, component, msg, ...base, ...errorFields(fields) }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(component, { ...base, ...fields }, write),
  };
}
