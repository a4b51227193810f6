// `purelb status --watch`: redraws the report whenever a watched object changes (debounced: an agent's
// heartbeat renewals and a rollout's burst of updates give one redraw), on a tick (heartbeats expire
// with time, the upstream router's routes are polled) and only when the rendered text changed.
import type { KubeClient } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import { buildStatusReport, type StatusInputs, type StatusReport } from './report.ts';
import { watchStatusInputs } from './source.ts';

export interface WatchOptions {
  /** Renders a report (the table, or JSON for -o json). */
  render: (report: StatusReport) => string;
  /** Writes one changed frame. */
  write: (frame: string) => void;
  /** Polled on every redraw: the upstream router's routes (--upstream). */
  readUpstream?: () => Promise<StatusInputs['upstream']>;
}

/** Changes within this window give one redraw. */
const DEBOUNCE_MS = 250;
/** Redraw check without a change: heartbeats expire with time; the upstream routes are polled. */
const TICK_MS = 2000;

/** Frame text: the rendered report, then the watches' current errors (they retry on their own). */
function frameText(body: string, problems: ReadonlyMap<string, string>): string {
  if (problems.size === 0) return body;
  return [body, '', ...[...problems].map(([what, error]) => `! ${what}: ${error} (retrying)`)].join('\n');
}

// eslint-disable-next-line max-lines-per-function -- one watch session: draw, redraw and schedule share its timers and last frame
export function watchStatus(kc: KubeClient, namespace: string, opts: WatchOptions): { stop: () => Promise<void> } {
  const problems = new Map<string, string>();
  // the caches' own warnings (a failed watch, retried with backoff) are shown under the table instead of
  // logged over it; the next successful list of that kind clears them
  const problemLog = (fields: Record<string, unknown>): Logger => {
    const record = (msg: string, more?: Record<string, unknown>) => {
      const error = more?.error;
      problems.set(
        `watch ${typeof fields.watch === 'string' ? fields.watch : '?'}`,
        typeof error === 'string' ? error : msg,
      );
      schedule();
    };
    return {
      debug: () => {},
      info: () => {},
      warn: record,
      error: record,
      child: (f) => problemLog({ ...fields, ...f }),
    };
  };
  const log = problemLog({});
  const source = watchStatusInputs(kc, namespace, log);
  let synced = false;
  let last: string | undefined;
  let stopped = false;
  let debounce: NodeJS.Timeout | undefined;
  let drawing: Promise<void> | undefined;
  let again = false;

  const draw = async (): Promise<void> => {
    let upstream: StatusInputs['upstream'];
    if (opts.readUpstream && synced) {
      try {
        upstream = await opts.readUpstream();
        problems.delete('upstream');
      } catch (err) {
        problems.set('upstream', (err as Error).message);
      }
    }
    if (stopped) return;
    const body = synced
      ? opts.render(buildStatusReport({ ...source.inputs(), ...(upstream ? { upstream } : {}) }))
      : 'waiting for the apiserver to list every kind';
    const text = frameText(body, problems);
    if (text !== last) {
      last = text;
      opts.write(text);
    }
  };
  // one draw at a time; a change during a draw (the upstream read is async) gives one more
  const redraw = () => {
    if (stopped) return;
    if (drawing) {
      again = true;
      return;
    }
    drawing = draw().finally(() => {
      drawing = undefined;
      if (again) {
        again = false;
        redraw();
      }
    });
  };
  function schedule() {
    if (debounce || stopped) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      redraw();
    }, DEBOUNCE_MS);
  }
  source.onChange((key, kind) => {
    if (kind === 'relist') problems.delete(`watch ${key}`);
    schedule();
  });
  const tick = setInterval(schedule, TICK_MS);
  void source.synced.then(() => {
    synced = true;
    redraw();
  });

  return {
    stop: async () => {
      stopped = true;
      clearInterval(tick);
      if (debounce) clearTimeout(debounce);
      await source.stop();
      await drawing;
    },
  };
}
