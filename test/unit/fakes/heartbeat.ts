// A parsed heartbeat for the pure eligibility tests: live until 10,000 ms unless `more` says otherwise.
import { parseCIDR } from '../../../src/api/ip.ts';
import type { Heartbeat } from '../../../src/model/heartbeat.ts';

export const hb = (node: string, subnets: string[], more: Partial<Heartbeat> = {}): Heartbeat => ({
  node,
  subnets: subnets.map((s) => parseCIDR(s)!),
  labels: {},
  expiresAt: 10_000,
  renewedAt: 0,
  ...more,
});
