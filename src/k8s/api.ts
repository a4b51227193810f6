// API calls every tool that runs right after a cluster or a CRD appears needs (the lab, `purelb status`,
// `purelb install`): wait out 429 "storage is (re)initializing", wait for a CRD to be Established, and
// the apiserver's own message of a failed call.
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from './rest.ts';

/** Retries while the apiserver answers 429 (e.g. "storage is (re)initializing" right after a CRD appears). */
export async function retryBusy<T>(fn: () => Promise<T>, attempts = 40): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: number }).code !== 429 || i >= attempts) throw err;
      await sleep(250);
    }
  }
}

export const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

export async function waitEstablished(kc: KubeClient, names: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await kc.get<V1CustomResourceDefinition>(`${CRD_PATH}/${name}`);
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}

/** The apiserver's message of a failed call (its Status body), else the error's. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed =
      typeof body === 'string'
        ? (JSON.parse(body) as { message?: string })
        : (body as { message?: string } | undefined);
    if (parsed?.message) return parsed.message;
  } catch {
    // not JSON
  }
  return (err as Error).message;
}
