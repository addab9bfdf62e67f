/**
 * Secure badges (NTAG 424 DNA) in the gateway database, migrated under a component of their own so that
 * they never take a number in another part's list:
 * - each badge says what it is: `uid-only` (identified by its UID alone) or `secure` (signs every read),
 *   and for a secure badge the key version that personalised it;
 * - a site may require secure badges;
 * - `taps.sun_counter`: the read counter of a secure badge's message the gateway accepted, in the tap's own
 *   row and transaction, so that a replayed message is known whatever crashed in between;
 * - `badge_sun_state`: per secure badge, the highest read counter accepted and the last accepted reads
 *   (gateway/ingest/sun-counters.ts), a snapshot written every few seconds; `badge_sun_snapshot` says up to
 *   which tap (rowid) it goes, and the writer folds the taps after it in at start (gateway/ingest/badge-check.ts);
 * - `tap_badge_checks`: what the badge check found for a tap that failed it (held) or was flagged
 *   (a UID-only badge on a site that requires secure ones); nothing for the taps that passed.
 */
export const BADGE_SECURITY_MIGRATIONS: string[] = [
  `
ALTER TABLE badges ADD COLUMN kind TEXT NOT NULL DEFAULT 'uid-only' CHECK (kind IN ('uid-only', 'secure'));
ALTER TABLE badges ADD COLUMN key_version INTEGER CHECK (key_version IS NULL OR key_version BETWEEN 1 AND 255);
ALTER TABLE sites ADD COLUMN require_secure_badges INTEGER NOT NULL DEFAULT 0 CHECK (require_secure_badges IN (0, 1));

CREATE TABLE badge_sun_state (
  uid      TEXT PRIMARY KEY,                -- the badge (upper-case hex, 7 bytes)
  highest  INTEGER NOT NULL,                -- the highest SDMReadCtr accepted
  recent   BLOB NOT NULL                    -- the last accepted reads, highest first: 32-bit counter, 32-bit tap time (s), big-endian
) WITHOUT ROWID;

ALTER TABLE taps ADD COLUMN sun_counter INTEGER;

CREATE TABLE badge_sun_snapshot (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  taps_rowid  INTEGER NOT NULL,             -- badge_sun_state covers the taps up to this rowid
  taken_at    TEXT
);
-- Taps stored before secure badges existed carry no counter: the first snapshot starts after them.
INSERT INTO badge_sun_snapshot (id, taps_rowid) SELECT 1, COALESCE(MAX(rowid), 0) FROM taps;

CREATE TABLE tap_badge_checks (
  tap_id   TEXT PRIMARY KEY,
  outcome  TEXT NOT NULL,                   -- why the tap was held, or 'uid-only-on-secure-site'
  details  TEXT NOT NULL                    -- JSON: what the remark shows (counters, the earlier tap, the UID in the message...)
);
`,
];
