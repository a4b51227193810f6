// One management bridge + kube-apiserver + etcd for the whole e2e run (every backend's lab attaches its
// nodes to it), recorded in a lab ledger so `purelb lab down --name <name>` cleans up after a crash.
import { randomBytes } from 'node:crypto';
import { startSharedCluster } from '../src/lab/lab.ts';

export default async function globalSetup(): Promise<void> {
  const name = `e${randomBytes(2).toString('hex')}`;
  process.env.PURELB_E2E_SHARED_NAME = name;
  const shared = await startSharedCluster(name);
  process.env.PURELB_E2E_SHARED = JSON.stringify(shared);
}
