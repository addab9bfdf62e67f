import type { ShiftStateName } from '../../shared/mqtt/payloads.ts';

/**
 * A worker's new shift state after a commit (ingest's, or a release of held taps): what terminals are told
 * (terminal-sync/shift-notifier.ts) and, in a cluster, what the other instances are told (cluster/redis-bus.ts).
 */
export interface ShiftChange {
  workerId: string;
  state: ShiftStateName;
  /** The instant the state was set (ms). */
  sinceMs: number;
  siteId: string;
  rev: number;
}
