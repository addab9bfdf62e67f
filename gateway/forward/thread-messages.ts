import type { ClockReading } from '../../shared/clock.ts';
import type { ForwardingSettings } from './config.ts';
import type { ForwardWrite } from './forward-writes.ts';
import type { ForwarderRole } from './leadership.ts';
import type { StoreLocation } from '../store/gateway-store.ts';

/**
 * What the gateway's main thread and the forwarder thread say to each other (thread.ts on the main thread,
 * forwarder-thread-main.ts in the thread). Everything here crosses by structured clone.
 */
export interface ForwarderThreadData {
  /** Where the gateway keeps its data: the thread opens its own connection (or pool) to it. */
  store: StoreLocation;
  /** PostgreSQL: the pool's name in `pg_stat_activity`. */
  applicationName?: string;
  /** The `onss` section as read on the main thread (the signing key is a KeyObject, which crosses threads). */
  settings: Extract<ForwardingSettings, { enabled: true }>;
  /** The main thread's log level: lines below it are not even sent. */
  logLevel: string;
  /** The gateway's clock when it is a virtual one (followed from its readings); absent: the system clock. */
  clock?: ClockReading;
}

export type ToForwarder =
  | { type: 'wake' }
  | { type: 'clock'; reading: ClockReading }
  | { type: 'written'; id: number; ok: true; value: number | undefined }
  | { type: 'written'; id: number; ok: false; error: { message: string; code?: string } }
  | { type: 'stop' };

export type FromForwarder =
  | { type: 'started'; threadId: number; role: ForwarderRole; holder: string | undefined }
  | { type: 'failed'; error: { name: string; message: string; problems?: unknown } }
  | { type: 'state'; role: ForwarderRole; holder: string | undefined }
  | { type: 'write'; id: number; change: ForwardWrite }
  | { type: 'log'; level: number; bindings: Record<string, unknown>; args: unknown[] }
  | { type: 'stopped' };
