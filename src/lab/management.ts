// The management network: a bridge in the host namespace carrying the apiserver's address, and one
// veth per node (`mgmt0` inside the node) so agents reach the apiserver. Only the bridge's own /24 is
// routed; nodes keep their default route via the ToR, so `localint: default` still finds eth0.
import { execFileSync } from 'node:child_process';
import { ipBatch } from '../exec.ts';
import { record, type Ledger } from './ledger.ts';
import type { LabPlan, ManagementPlan } from './plan.ts';

/** Every IPv4 route prefix of the host (to pick a management subnet that overlaps none). */
export function hostRoutes(): string[] {
  const out = execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  return (JSON.parse(out) as { dst: string }[]).map((r) => r.dst).filter((d) => d !== 'default');
}

export async function createManagementBridge(ledger: Ledger, mgmt: ManagementPlan): Promise<void> {
  const { bridge, host, prefix } = mgmt;
  record(ledger, 'hostLinks', bridge);
  await ipBatch([
    `link add ${bridge} type bridge`,
    `addr add ${host}/${prefix} dev ${bridge}`,
    `link set ${bridge} up`,
  ]);
}

export async function attachNodeToManagement(ledger: Ledger, plan: LabPlan, index: number): Promise<void> {
  const node = plan.nodes[index]!;
  const port = plan.mgmtPorts[index]!;
  record(ledger, 'hostLinks', port);
  await ipBatch([
    `link add ${port} type veth peer name mgmt0 netns ${node.netns}`,
    `link set ${port} master ${plan.mgmt.bridge} up`,
  ]);
  await ipBatch([`addr add ${node.mgmt}/${plan.mgmt.prefix} dev mgmt0`, 'link set mgmt0 up'], node.netns);
}
