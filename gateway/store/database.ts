import { migrate, openDatabase, type Db, type OpenOptions } from '../../shared/sqlite.ts';
import { REGISTRATIONS_V1_DDL } from './registrations-schema.ts';
import { GATEWAY_MIGRATIONS } from './gateway-schema.ts';
import { RECORDS_MIGRATIONS } from './records-schema.ts';
import { BADGE_SECURITY_MIGRATIONS } from './badge-security-schema.ts';
import { DAY_CORRECT_MIGRATIONS } from './day-correct-schema.ts';
import { DEFAULT_MAX_SHIFT_HOURS } from '../../shared/mqtt/payloads.ts';
import { FLEET_MIGRATIONS } from '../fleet/schema.ts';
import { TAP_ROWS_MIGRATIONS } from './tap-rows-schema.ts';
import { CLUSTER_MIGRATIONS } from './cluster-schema.ts';
import type { SqlStore } from './sql-store.ts';

/**
 * Opens the gateway database (WAL, synchronous=FULL, mode 0600) with the gateway's tables in place.
 * The admin CLI and the gateway both open it this way; SQLite's locking lets them work side by side.
 */
export function openGatewayDatabase(path: string, options: OpenOptions = {}): Db {
  const db = openDatabase(path, options);
  migrate(db, 'gateway', [REGISTRATIONS_V1_DDL, ...GATEWAY_MIGRATIONS]);
  migrate(db, 'siteman', RECORDS_MIGRATIONS);
  migrate(db, 'badge-security', BADGE_SECURITY_MIGRATIONS);
  migrate(db, 'day-correct', DAY_CORRECT_MIGRATIONS);
  migrate(db, 'fleet', FLEET_MIGRATIONS);
  migrate(db, 'cluster', CLUSTER_MIGRATIONS);
  // After the components that added columns to `taps`: the table is rebuilt with them.
  migrate(db, 'one-row-per-tap', TAP_ROWS_MIGRATIONS);
  return db;
}

/** The site-data version: bumped by the site-data tables' triggers at every row written, on both databases. */
export async function siteDataVersion(store: SqlStore): Promise<number> {
  const row = await store.one<{ version: number }>('SELECT version FROM site_data_version WHERE id = 1');
  return row!.version;
}

export type { Db };

/**
 * The maximum shift length the running gateway uses (its config's `terminals.maxShiftHours`, written at
 * start), so `ciao admin` and the console compute remarks and presence with the same notion.
 */
export async function readMaxShiftHours(store: SqlStore): Promise<number> {
  return shiftHours((await store.one<{ value: string }>("SELECT value FROM gateway_settings WHERE key = 'maxShiftHours'"))?.value);
}

function shiftHours(value: string | undefined): number {
  const n = value === undefined ? NaN : Number(value);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_SHIFT_HOURS;
}

export async function saveMaxShiftHours(store: SqlStore, hours: number): Promise<void> {
  await store.run("INSERT INTO gateway_settings (key, value) VALUES ('maxShiftHours', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(hours)]);
}
