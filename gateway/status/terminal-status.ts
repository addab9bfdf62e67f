import type { SqlStore } from '../store/sql-store.ts';
import type { Logger } from '../../shared/logging.ts';
import { decodeStatus, type TerminalStatus } from '../../shared/mqtt/payloads.ts';
import type { StatusItem } from '../ingest/batch-writer.ts';

/**
 * Terminal status: online/offline (from connections and the retained `status` topic, which is also each
 * terminal's last will), queued taps and the clock skew the terminal reports. Changes are handed to the
 * group commit (the database's single writer) and land in `terminal_status`; the skew measured from taps is
 * written there by the commit itself.
 */
export interface TerminalStatusRow {
  terminal_id: string;
  state: 'online' | 'offline';
  reported_at: string | null;
  version: string | null;
  queued: number | null;
  reported_skew_ms: number | null;
  measured_skew_ms: number | null;
  last_tap_at: string | null;
  connected_at: string | null;
  disconnected_at: string | null;
  /** In a cluster: the instance the terminal is connected to. */
  connected_via?: string | null;
  updated_at: string;
}

export class TerminalStatusTracker {
  constructor(
    private readonly note: (item: StatusItem) => void,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
    /** Sees each valid report as well (the fleet keeps what terminals say about their updates). */
    private readonly onReport?: (terminalId: string, report: TerminalStatus) => void,
    /** In a cluster: this instance's name, recorded with each terminal that connects to it. */
    private readonly instance?: string,
  ) {}

  online(terminalId: string): void {
    this.note({ kind: 'status', terminalId, change: 'online', at: this.now().toISOString(), ...(this.instance ? { instance: this.instance } : {}) });
  }

  /** In a cluster: an instance stopped answering; the terminals still recorded as connected to it are offline. */
  instanceGone(instance: string): void {
    this.note({ kind: 'status', terminalId: '', change: 'instance-gone', at: this.now().toISOString(), instance });
  }

  offline(terminalId: string): void {
    this.note({ kind: 'status', terminalId, change: 'offline', at: this.now().toISOString() });
  }

  /** A message on the terminal's `status` topic (its own report, or its last will). */
  report(terminalId: string, payload: Buffer): boolean {
    const d = decodeStatus(payload);
    if (!d.ok) {
      this.logger.warn({ terminalId, reason: d.reason, problems: d.problems }, 'status message refused');
      return false;
    }
    this.note({ kind: 'status', terminalId, change: 'report', at: this.now().toISOString(), report: d.value });
    this.onReport?.(terminalId, d.value);
    return true;
  }
}

/** What each terminal last reported (one, or all sorted by id in code, by code point as SQLite sorts). */
export async function readTerminalStatus(store: SqlStore, terminalId?: string): Promise<TerminalStatusRow[]> {
  if (terminalId) return store.all<TerminalStatusRow>('SELECT * FROM terminal_status WHERE terminal_id = $1', [terminalId]);
  return (await store.all<TerminalStatusRow>('SELECT * FROM terminal_status')).sort((a, b) => (a.terminal_id < b.terminal_id ? -1 : a.terminal_id > b.terminal_id ? 1 : 0));
}
