// The routing controller's two ports: the few cluster calls it makes and the routing daemon it drives
// (a RouteAdvertiser per daemon kind), plus the timers it schedules on. The real cluster port is
// cluster-port.ts; unit tests drive the controller through in-memory fakes of all three.
import type { Daemon, RouterConfig } from '../api/validate-routerconfig.ts';
import type { EventRecorder } from '../k8s/events.ts';
import type { RouteAdvertiser } from './advertiser.ts';
import type { NodeRoutingStatus } from './status.ts';

export type ConfigChange = 'add' | 'update' | 'delete' | 'relist';

export interface RoutingClusterPort {
  /** Resolves once the RouterConfigs of the install namespace were listed. */
  readonly synced: Promise<void>;
  /** The RouterConfigs of the install namespace as last seen. */
  listRouterConfigs(): readonly RouterConfig[];
  /** Called after every add/update/delete of a RouterConfig and every relist. */
  onRouterConfigChange(handler: (obj: RouterConfig | undefined, kind: ConfigChange) => void): void;
  /** The Node's labels and uid (the uid makes the Node the owner of its NodeRoutingStatus). */
  readNode(): Promise<{ labels: Record<string, string>; uid?: string }>;
  /** The decoded value of data[key] of a Secret in the install namespace; undefined when there is no such key. */
  readSecretKey(name: string, key: string): Promise<string | undefined>;
  /** Creates or replaces this node's NodeRoutingStatus object, owned by the Node with this uid. */
  writeNodeStatus(status: NodeRoutingStatus, nodeUID: string | undefined): Promise<void>;
  /** Deletes this node's NodeRoutingStatus object; one that does not exist is no error. */
  deleteNodeStatus(): Promise<void>;
  readonly events: EventRecorder;
  /** Stops watching RouterConfigs. */
  stop(): Promise<void>;
}

/** The daemon port: one advertiser per daemon kind, opened when a RouterConfig first names that daemon. */
export type OpenDaemon = (daemon: Daemon) => RouteAdvertiser;

export type Cancel = () => void;

export interface Timers {
  /** Runs fn once after ms. */
  after(ms: number, fn: () => void): Cancel;
  /** Runs fn every ms. */
  every(ms: number, fn: () => void): Cancel;
}

export const realTimers: Timers = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
};
