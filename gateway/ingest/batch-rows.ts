import type { SqlStore, SqlValue } from '../store/sql-store.ts';
import { insertRows, selectIn } from '../store/multi-row.ts';

/**
 * The rows a group commit writes for its taps, gathered while the batch is gone through and written as a few
 * multi-row statements (multi-row.ts): the taps (with their registrations), then what refers to a tap (a
 * wrong offset noted, a held tap's SUN message, the badge check's finding), and quarantined payloads.
 *
 * A tap id is stored once: the ids already stored are read first (`storedAmong`), one statement per chunk,
 * and the batch writer leaves those and a second copy within the batch out, before numbering anything. The
 * writer holds the tap writers' lock (gateway/store/tap-writer-lock.ts) for the whole transaction, so no other
 * transaction adds a tap in between; the insert still says `ON CONFLICT DO NOTHING`, and a row it did not
 * write fails the batch rather than leave a registration number unused.
 */
const TAP_COLUMNS = ['tap_id', 'terminal_id', 'site_id', 'seq', 'badge', 'direction', 'reason', 'at', 'local_at', 'employer', 'received_at', 'enrichment', 'enrichment_detail', 'sun_counter', 'worker_id',
  'reg_seq', 'reg_at', 'at_s', 'ssin', 'limosa_id', 'capacity', 'context_id'] as const;

/** A tap's row: its values in the order of TAP_COLUMNS (insertRows refuses a row of another length). */
export type TapRow = readonly SqlValue[];

const STORED = 'SELECT tap_id FROM taps WHERE tap_id IN';
const TAPS = `INSERT INTO taps (${TAP_COLUMNS.join(', ')})`;
const TIME_CHECKS = 'INSERT INTO tap_time_checks (tap_id, problem, details)';
const HELD_SUN = 'INSERT INTO held_tap_sun (tap_id, picc, mac)';
const BADGE_CHECKS = 'INSERT INTO tap_badge_checks (tap_id, outcome, details)';
const QUARANTINE = 'INSERT INTO quarantine (terminal_id, tap_id, reason, problems, payload, payload_size, received_at)';
const ONCE = 'ON CONFLICT (tap_id) DO NOTHING';

/** Which of `tapIds` are stored already. */
export async function storedAmong(tx: SqlStore, tapIds: readonly string[]): Promise<Set<string>> {
  const rows = await selectIn<{ tap_id: string }>(tx, STORED, [...new Set(tapIds)]);
  return new Set(rows.map((r) => r.tap_id));
}

export class BatchRows {
  private taps: TapRow[] = [];
  private timeChecks: Array<[string, string, string]> = [];
  private heldSun: Array<[string, string, string]> = [];
  private badgeChecks: Array<readonly [string, string, string]> = [];
  private quarantine: Array<[string, string | null, string, string, Buffer, number, string]> = [];

  tap(row: TapRow): void {
    this.taps.push(row);
  }

  timeCheck(tapId: string, problem: string, details: string): void {
    this.timeChecks.push([tapId, problem, details]);
  }

  heldSunMessage(tapId: string, picc: string, mac: string): void {
    this.heldSun.push([tapId, picc, mac]);
  }

  badgeCheck(row: readonly [string, string, string]): void {
    this.badgeChecks.push(row);
  }

  quarantined(row: [terminalId: string, tapId: string | null, reason: string, problems: string, payload: Buffer, payloadSize: number, receivedAt: string]): void {
    this.quarantine.push(row);
  }

  /** Writes what was gathered (the taps first: the other rows name them) and starts empty again. */
  async flush(tx: SqlStore): Promise<void> {
    const { taps, timeChecks, heldSun, badgeChecks, quarantine } = this;
    this.taps = [];
    this.timeChecks = [];
    this.heldSun = [];
    this.badgeChecks = [];
    this.quarantine = [];
    const inserted = await insertRows(tx, TAPS, TAP_COLUMNS.length, taps, ONCE);
    if (inserted !== taps.length) {
      throw new Error(`taps: ${taps.length - inserted} of ${taps.length} tap ids were stored by another transaction during the batch (tap_id must be new once read as new under the tap writers' lock)`);
    }
    await insertRows(tx, TIME_CHECKS, 3, timeChecks, ONCE);
    await insertRows(tx, HELD_SUN, 3, heldSun, ONCE);
    await insertRows(tx, BADGE_CHECKS, 3, badgeChecks, ONCE);
    await insertRows(tx, QUARANTINE, 7, quarantine);
  }
}
