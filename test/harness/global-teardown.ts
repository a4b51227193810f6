export default async function globalTeardown(): Promise<void> {
  await globalThis.__purelbCluster?.stop();
  globalThis.__purelbCluster = undefined;
}
