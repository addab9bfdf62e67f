import { migrate, openDatabase, type Db, type OpenOptions } from '../../shared/sqlite.ts';
import { REGISTRATIONS_DDL } from './registrations-schema.ts';
import { GATEWAY_MIGRATIONS } from './gateway-schema.ts';
import { RECORDS_MIGRATIONS } from './records-schema.ts';
import { BADGE_SECURITY_MIGRATIONS } from './badge-security-schema.ts';
import { FLEET_MIGRATIONS } from '../fleet/schema.ts';

/**
 * Opens the gateway database (WAL, synchronous=FULL, mode 0600) with the gateway's tables in place.
 * The admin CLI and the gateway both open it this way; SQLite's locking lets them work side by side.
 */
export function openGatewayDatabase(path: string, options: OpenOptions = {}): Db {
  const db = openDatabase(path, options);
  migrate(db, 'gateway', [REGISTRATIONS_DDL, ...GATEWAY_MIGRATIONS]);
  migrate(db, 'siteman', RECORDS_MIGRATIONS);
  migrate(db, 'badge-security', BADGE_SECURITY_MIGRATIONS);
  migrate(db, 'fleet', FLEET_MIGRATIONS);
  return db;
}

export function siteDataVersion(db: Db): number {
  return (db.prepare('SELECT version FROM site_data_version WHERE id = 1').get() as { version: number }).version;
}

export type { Db };
