/**
 * Day-correct registrations, migrated under a component of their own (`day-correct`):
 * - `taps.worker_id`: the worker a stored tap is attributed to (its badge known, valid that day, not revoked,
 *   not held by the badge check); null otherwise. The shift state folds these taps; a held tap of a known
 *   worker is found by it when site data arrives (`taps_held_worker`, on held taps only);
 * - `worker_shifts`: each worker's shift state, the state implied by the worker's latest attributed tap (by
 *   instant, then tap id) with a revision that only grows, written in the ingest transaction
 *   (gateway/ingest/shift-tracker.ts) and by a release of held taps;
 * - `tap_time_checks`: taps whose time says something is wrong with the terminal's clock or time-zone
 *   setting (an offset that is not Brussels' at that instant; a wall time that does not exist there);
 * - `held_tap_sun`: the SUN message of a tap held because its badge was unknown, kept so the tap goes through
 *   the badge check if the badge is later enrolled as a secure badge;
 * - `tap_releases`: each held tap a site-data change released (or handed to the badge check), with the
 *   change's audit entry, the release's own audit entry and why, for the remark history;
 * - `agency_placements`: an agency worker placed with a user company (FAQ 26), from/to;
 * - `declarations.ciao_url`: the declaration's CIaO registration URL (its QR code), the fallback when a
 *   terminal cannot register (FAQ 31);
 * - `outage_events`: the gateway's own journal of terminal and gateway outages, beside the forwarder's ONSS
 *   outage journal;
 * - `gateway_settings`: settings the running gateway shares with `ciao admin` (the maximum shift length);
 * - `terminal_status.cannot_register`: why a terminal that is online says it cannot register taps (FAQ 31),
 *   comma-separated reasons, null when it can.
 */
const PLACEMENT_TRIGGERS = ['INSERT', 'UPDATE', 'DELETE']
  .map((op) => `CREATE TRIGGER IF NOT EXISTS agency_placements_${op.toLowerCase()}_version AFTER ${op} ON agency_placements BEGIN UPDATE site_data_version SET version = version + 1 WHERE id = 1; END;`)
  .join('\n');

export const DAY_CORRECT_MIGRATIONS: string[] = [
  `
ALTER TABLE taps ADD COLUMN worker_id TEXT;
CREATE INDEX taps_held_worker ON taps (worker_id) WHERE enrichment <> 'enriched' AND worker_id IS NOT NULL;
CREATE INDEX taps_held_badge ON taps (badge) WHERE enrichment <> 'enriched';

CREATE TABLE worker_shifts (
  worker_id    TEXT PRIMARY KEY,
  state        TEXT NOT NULL CHECK (state IN ('working', 'break', 'off')),
  site_id      TEXT NOT NULL,                 -- where the state was set
  last_ms      INTEGER NOT NULL,              -- instant of the latest attributed tap (ms): the state's since
  last_tap_id  TEXT NOT NULL,
  rev          INTEGER NOT NULL               -- grows with every change; terminals keep the highest
) WITHOUT ROWID;

CREATE TABLE tap_time_checks (
  tap_id   TEXT PRIMARY KEY,
  problem  TEXT NOT NULL CHECK (problem IN ('wrong-offset', 'nonexistent-wall-time')),
  details  TEXT NOT NULL                      -- JSON: the time as sent, the offset expected, the true instant
);

CREATE TABLE held_tap_sun (
  tap_id  TEXT PRIMARY KEY,
  picc    TEXT NOT NULL,
  mac     TEXT NOT NULL
);

CREATE TABLE tap_releases (
  tap_id          TEXT PRIMARY KEY,
  outcome         TEXT NOT NULL CHECK (outcome IN ('released', 'badge-check', 'held-again')),
  held_as         TEXT NOT NULL,              -- the enrichment status it was held with (unknown-badge, no-declaration...)
  seq             INTEGER,                    -- the registration made (released)
  cause_audit_id  INTEGER NOT NULL,           -- the site-data change that released it
  audit_id        INTEGER,                    -- the release's own audit entry
  because         TEXT NOT NULL,              -- JSON: what changed, who changed it, when
  requested_at    TEXT NOT NULL,
  done_at         TEXT
);
CREATE INDEX tap_releases_badge_check ON tap_releases (requested_at) WHERE outcome = 'badge-check';

CREATE TABLE agency_placements (
  id               TEXT PRIMARY KEY,
  worker_id        TEXT NOT NULL REFERENCES workers(id),
  agency_id        TEXT NOT NULL REFERENCES companies(id),
  user_company_id  TEXT NOT NULL REFERENCES companies(id),
  valid_from       TEXT NOT NULL,             -- YYYY-MM-DD inclusive
  valid_to         TEXT,                      -- YYYY-MM-DD inclusive; NULL = open-ended
  created_at       TEXT NOT NULL,
  deactivated_at   TEXT
);
CREATE INDEX agency_placements_worker ON agency_placements (worker_id);
${PLACEMENT_TRIGGERS}

ALTER TABLE declarations ADD COLUMN ciao_url TEXT;

CREATE TABLE outage_events (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  scope        TEXT NOT NULL,                 -- 'gateway' or 'terminal:<id>'
  terminal_id  TEXT,
  site_id      TEXT,
  started_at   TEXT NOT NULL,
  ended_at     TEXT,
  cause        TEXT NOT NULL
);
CREATE INDEX outage_events_open ON outage_events (scope) WHERE ended_at IS NULL;
CREATE INDEX outage_events_started ON outage_events (started_at);

CREATE TABLE gateway_settings (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
) WITHOUT ROWID;
`,
  `
ALTER TABLE terminal_status ADD COLUMN cannot_register TEXT;
`,
  // A site's roster starts from its declaration's companies: their workers, and the workers placed with them.
  `
CREATE INDEX IF NOT EXISTS worker_employers_company ON worker_employers (company_id);
CREATE INDEX IF NOT EXISTS agency_placements_user_company ON agency_placements (user_company_id);
`,
];
