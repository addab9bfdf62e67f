/**
 * The contract between ingest (which appends registrations) and the forwarder (which sends them to ONSS):
 * `registrations` in the gateway database, with the columns below. Registrations are append-only: nothing
 * updates or deletes one; what happens to a registration afterwards lives in the forwarder's and the
 * remarks' own tables, keyed by `seq` or `tap_id`.
 *
 * Since the `one-row-per-tap` migration (tap-rows-schema.ts) `registrations` is a view over the taps table,
 * with these same columns (and `at_s`, the instant in seconds, for period searches). The DDL below is the
 * first version, kept as the gateway's first migration so existing databases keep their history.
 */
export const REGISTRATIONS_V1_DDL = `
CREATE TABLE IF NOT EXISTS registrations (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,  -- order of arrival; the forwarder sends in this order
  tap_id         TEXT NOT NULL UNIQUE,               -- the terminal's tap UUID: one registration per tap
  terminal_id    TEXT NOT NULL,
  site_id        TEXT NOT NULL,
  worker_id      TEXT,                               -- gateway's own worker key
  type           TEXT NOT NULL CHECK (type IN ('IN', 'OUT')),
  reason         TEXT NOT NULL CHECK (reason IN ('work', 'break')),
  at             TEXT NOT NULL,                      -- terminal clock at the tap, ISO 8601 with offset
  at_utc         TEXT NOT NULL,                      -- the same instant as ONSS takes it: YYYY-MM-DDTHH:MM:SSZ
  ssin           TEXT,                               -- NISS/BIS digits; never leaves the gateway but to ONSS and exports
  limosa_id      TEXT,
  capacity       TEXT NOT NULL,
  employer_kind  TEXT NOT NULL CHECK (employer_kind IN ('enterprise', 'foreign')),
  employer_id    TEXT NOT NULL,                      -- enterprise number (10 digits) or foreign VAT/id
  declaration    TEXT NOT NULL,                      -- declaration-of-works number (13 chars)
  place_of_work  TEXT NOT NULL,                      -- JSON PlaceOfWork: {address?, coordinates?}
  received_at    TEXT NOT NULL,                      -- gateway clock when the tap arrived
  CHECK (ssin IS NOT NULL OR limosa_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS registrations_site_at ON registrations (site_id, at_utc);
CREATE INDEX IF NOT EXISTS registrations_worker_at ON registrations (worker_id, at_utc);
`;

export interface RegistrationRow {
  seq: number;
  tap_id: string;
  terminal_id: string;
  site_id: string;
  worker_id: string | null;
  type: 'IN' | 'OUT';
  reason: 'work' | 'break';
  at: string;
  at_utc: string;
  ssin: string | null;
  limosa_id: string | null;
  capacity: string;
  employer_kind: 'enterprise' | 'foreign';
  employer_id: string;
  declaration: string;
  place_of_work: string;
  received_at: string;
  /** The instant in whole seconds since 1970 (UTC): `at_utc` as a number, what period searches use. */
  at_s?: number;
}
