import { cleanLedger } from '../src/lab/ledger.ts';

export default async function globalTeardown(): Promise<void> {
  const name = process.env.PURELB_E2E_SHARED_NAME;
  if (name) await cleanLedger(name);
}
