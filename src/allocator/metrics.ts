// Prometheus metrics of the allocator (own registry, served on /metrics by the health server).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface AllocatorMetrics {
  registry: Registry;
  poolSize: Gauge<'group' | 'family'>;
  poolInUse: Gauge<'group' | 'family'>;
  failures: Counter<'reason'>;
  reconcileSeconds: Histogram;
  leader: Gauge;
}

export function createAllocatorMetrics(): AllocatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'purelb_allocator_' });
  const registers = [registry];
  return {
    registry,
    poolSize: new Gauge({
      name: 'purelb_allocator_pool_size',
      help: 'Addresses in the serving pools of a ServiceGroup (capped at 2^53-1)',
      labelNames: ['group', 'family'],
      registers,
    }),
    poolInUse: new Gauge({
      name: 'purelb_allocator_pool_in_use',
      help: "Addresses of a ServiceGroup's pools held by Services",
      labelNames: ['group', 'family'],
      registers,
    }),
    failures: new Counter({
      name: 'purelb_allocator_allocation_failures_total',
      help: 'Allocation failures (each new failure of a Service counts once) by reason',
      labelNames: ['reason'],
      registers,
    }),
    reconcileSeconds: new Histogram({
      name: 'purelb_allocator_reconcile_duration_seconds',
      help: 'Time from picking a Service off the queue to its writes completing',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    leader: new Gauge({ name: 'purelb_allocator_leader', help: '1 while this replica is the leader', registers }),
  };
}
