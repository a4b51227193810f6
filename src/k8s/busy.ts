// The apiserver answers 429 for a while after start-up and right after a CRD appears; callers that
// run then (the lab, `purelb status`, `purelb install`) wait it out instead of failing.
/** Retries while the apiserver answers 429 (e.g. "storage is (re)initializing" right after a CRD appears). */
export async function retryBusy<T>(fn: () => Promise<T>, attempts = 40): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: number }).code !== 429 || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
