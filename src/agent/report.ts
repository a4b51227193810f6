// What changed for each Service on this node between two reconciles (pure), as the events the agent
// writes: AnnouncingLocal, AnnouncingNonLocal, Withdrawn, AnnouncementFailed (NoEligibleNode, when no
// node may announce an address, comes from the allocator: src/allocator/no-eligible-report.ts). Nothing
// is reported for an unchanged state, so a steady cluster writes no events.
import type { AddressDecision } from './desired.ts';

export interface ServiceAnnouncements {
  local: string[];
  virtual: string[];
}

export interface ServiceEvent {
  service: string;
  type: 'Normal' | 'Warning';
  reason: 'AnnouncingLocal' | 'AnnouncingNonLocal' | 'Withdrawn' | 'AnnouncementFailed';
  note: string;
}

const describe = (d: AddressDecision) =>
  d.kind === 'local' ? `${d.ip} on ${d.ifname}` : `${d.ip}/${d.prefix} on ${d.ifname}`;

/** Per Service, the addresses this node holds (sorted descriptions). `failed` holds "ip ifname" of changes the kernel refused. */
export function announcementsByService(
  decisions: AddressDecision[],
  failed: ReadonlySet<string>,
): Map<string, ServiceAnnouncements> {
  const out = new Map<string, ServiceAnnouncements>();
  for (const d of decisions) {
    for (const svc of d.services) {
      const entry = out.get(svc) ?? { local: [], virtual: [] };
      if (d.announce && !failed.has(`${d.ip} ${d.ifname}`)) entry[d.kind].push(describe(d));
      out.set(svc, entry);
    }
  }
  for (const entry of out.values()) {
    entry.local.sort();
    entry.virtual.sort();
  }
  return out;
}

export function announcementEvents(
  node: string,
  before: ReadonlyMap<string, ServiceAnnouncements>,
  after: ReadonlyMap<string, ServiceAnnouncements>,
  decisions: AddressDecision[],
  failures: ReadonlyMap<string, string>,
): ServiceEvent[] {
  const events: ServiceEvent[] = [];
  // only a withdrawal names its reason: most reconciles withdraw nothing and need no index of 10,000
  let reasons: Map<string, string> | undefined;
  const reasonOf = (g: string) => (reasons ??= new Map(decisions.map((d) => [describe(d), d.reason]))).get(g);
  for (const [service, now] of after) {
    const prev = before.get(service) ?? { local: [], virtual: [] };
    if (now.local.length && now.local.join() !== prev.local.join()) {
      events.push({
        service,
        type: 'Normal',
        reason: 'AnnouncingLocal',
        note: `node ${node} announces ${now.local.join(', ')}`,
      });
    }
    if (now.virtual.length && now.virtual.join() !== prev.virtual.join()) {
      events.push({
        service,
        type: 'Normal',
        reason: 'AnnouncingNonLocal',
        note: `node ${node} announces ${now.virtual.join(', ')}`,
      });
    }
    const gone = [...prev.local, ...prev.virtual].filter((a) => !now.local.includes(a) && !now.virtual.includes(a));
    if (gone.length) {
      const why = gone.map((g) => {
        const reason = reasonOf(g);
        return reason ? `${g} (${reason})` : g;
      });
      events.push({
        service,
        type: 'Normal',
        reason: 'Withdrawn',
        note: `node ${node} withdrew ${why.join(', ')}`,
      });
    }
  }
  for (const [service, message] of failures) {
    events.push({ service, type: 'Warning', reason: 'AnnouncementFailed', note: `node ${node}: ${message}` });
  }
  return events;
}
