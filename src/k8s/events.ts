// Kubernetes Events (events.k8s.io/v1) with de-duplication: an event is written only when its note
// differs from the last one written for the same object and reason, so an unchanged state never
// repeats an event. Failures to write events are logged, never thrown (events are best effort).
import type { EventsV1Event, KubernetesObject } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import type { Logger } from '../log.ts';
import { microTime, type KubeClient } from './rest.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Returns true when the event was new (and sent), false when suppressed as a repeat. */
  emit(obj: KubernetesObject, type: EventType, reason: string, note: string): boolean;
  /** Forget what was sent for an object (all reasons, or the given ones), e.g. after a release. */
  reset(obj: KubernetesObject, reasons?: string[]): void;
  /** Resolves when every event written so far was sent (tests and shutdown). */
  flush(): Promise<void>;
}

/** An event as written: its time is a MicroTime string on the wire. */
export type EventBody = Omit<EventsV1Event, 'eventTime'> & { eventTime: string };

/** Writes one event (the apiserver's create call, or a test's in-memory list). */
export type EventSink = (namespace: string, event: EventBody) => Promise<unknown>;

const objectKey = (o: KubernetesObject) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export function createEventRecorder(
  kc: KubeClient,
  component: string,
  log: Logger,
  instance = process.env.POD_NAME ?? hostname(),
): EventRecorder {
  const send: EventSink = (namespace, body) => kc.create(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, body);
  return recordEvents(send, component, log, instance);
}

/** The de-duplicating recorder over any sink. */
export function recordEvents(
  send: EventSink,
  component: string,
  log: Logger,
  instance = process.env.POD_NAME ?? hostname(),
): EventRecorder {
  const last = new Map<string, Map<string, string>>();
  const pending = new Set<Promise<unknown>>();
  return {
    emit(obj, type, reason, note) {
      const key = objectKey(obj);
      const byReason = last.get(key) ?? new Map<string, string>();
      if (byReason.get(reason) === note) return false;
      byReason.set(reason, note);
      last.set(key, byReason);
      const namespace = obj.metadata?.namespace ?? 'default';
      const p = send(namespace, {
        // a generateName may end in '-' but not in '.' (the apiserver masks only a trailing dash)
        metadata: { generateName: `${obj.metadata?.name ?? 'object'}-` },
        eventTime: microTime(),
        reportingController: component,
        reportingInstance: `${component}-${instance}`.slice(0, 128),
        action: reason,
        reason,
        type,
        note: note.slice(0, 1024),
        regarding: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata?.name,
          namespace: obj.metadata?.namespace,
          uid: obj.metadata?.uid,
          resourceVersion: obj.metadata?.resourceVersion,
        },
      }).catch((err: unknown) => log.warn('could not write event', { object: key, reason, error: err }));
      pending.add(p);
      void p.finally(() => pending.delete(p));
      return true;
    },
    reset(obj, reasons) {
      const key = objectKey(obj);
      if (!reasons) last.delete(key);
      else for (const r of reasons) last.get(key)?.delete(r);
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
