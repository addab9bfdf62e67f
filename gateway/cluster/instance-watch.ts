import type { SqlStore } from '../store/sql-store.ts';
import type { Logger } from '../../shared/logging.ts';

export interface InstanceWatchOptions {
  store: SqlStore;
  /** This instance's name. */
  self: string;
  heartbeatMs: number;
  /** When each other instance was last heard saying it is alive (redis-bus.ts). */
  peers(): ReadonlyMap<string, number>;
  /** For how long this instance has heard the cluster without a break. */
  upForMs(): number;
  /** An instance stopped answering: mark offline the terminals still recorded as connected to it. */
  onGone(instance: string): void;
  logger: Logger;
  now?: () => number;
}

/**
 * The terminals of an instance that died (SIGKILL, power cut, a machine gone) are recorded online by it and
 * nobody else writes their status until they connect again; those that died with it never do. Every
 * heartbeat, each instance looks at the instances that terminals recorded online are connected to: one that
 * has not said it is alive for three heartbeats is gone, and its terminals are marked offline (the writer
 * journals each as a terminal outage). Nothing is judged before this instance has heard the cluster for three
 * heartbeats without a break: while Redis is away every other instance falls silent. Several instances may
 * judge the same one gone; marking offline what is online is done once.
 */
export function watchInstances(o: InstanceWatchOptions): { check(): Promise<void>; stop(): void } {
  const silentAfter = 3 * o.heartbeatMs;
  const named = async () => (await o.store.all<{ connected_via: string }>("SELECT DISTINCT connected_via FROM terminal_status WHERE state = 'online' AND connected_via IS NOT NULL")).map((r) => r.connected_via);
  /** When each gone instance was last handed to `onGone`, so that one is not noted again before it is written. */
  const noted = new Map<string, number>();
  const check = async () => {
    if (o.upForMs() < silentAfter) return;
    const names = await named();
    const now = o.now?.() ?? Date.now();
    for (const name of names) {
      if (name === o.self) continue;
      const heard = o.peers().get(name);
      if (heard !== undefined && now - heard <= silentAfter) continue;
      const last = noted.get(name);
      if (last !== undefined && now - last < silentAfter) continue;
      noted.set(name, now);
      o.logger.warn({ instance: name, silentMs: heard === undefined ? null : now - heard }, 'a gateway instance stopped answering: its terminals are marked offline');
      o.onGone(name);
    }
  };
  const timer = setInterval(() => {
    check().catch((err: unknown) => o.logger.warn({ err }, 'could not look for gateway instances that stopped answering'));
  }, o.heartbeatMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
