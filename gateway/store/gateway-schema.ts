/**
 * The gateway's own tables (site data, taps, quarantine, terminal status). The `registrations` table is the
 * contract with the forwarder and lives in registrations-schema.ts; the forwarder creates its own tables.
 *
 * `site_data_version` is bumped by triggers on every site-data table, so a running gateway notices changes
 * made by `ciao admin` in another process and republishes the terminals' config and roster.
 */
const SITE_TABLES = ['companies', 'sites', 'declarations', 'declaration_companies', 'terminals', 'workers', 'worker_employers', 'badges'];

function versionTriggers(): string {
  return SITE_TABLES.flatMap((t) =>
    ['INSERT', 'UPDATE', 'DELETE'].map(
      (op) => `CREATE TRIGGER IF NOT EXISTS ${t}_${op.toLowerCase()}_version AFTER ${op} ON ${t} BEGIN UPDATE site_data_version SET version = version + 1 WHERE id = 1; END;`,
    ),
  ).join('\n');
}

export const GATEWAY_MIGRATIONS: string[] = [
  `
CREATE TABLE site_data_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
INSERT INTO site_data_version (id, version) VALUES (1, 0);

CREATE TABLE companies (
  id          TEXT PRIMARY KEY,                 -- enterprise number (10 digits) or foreign VAT/id
  kind        TEXT NOT NULL CHECK (kind IN ('enterprise', 'foreign')),
  name        TEXT NOT NULL,
  created_at  TEXT NOT NULL
);

CREATE TABLE sites (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  language        TEXT NOT NULL CHECK (language IN ('fr', 'nl', 'de', 'en')),
  post_code       TEXT,
  municipality    TEXT,
  street          TEXT,
  house_number    TEXT,
  box_number      TEXT,
  latitude        REAL,
  longitude       REAL,
  created_at      TEXT NOT NULL,
  CHECK (post_code IS NOT NULL OR latitude IS NOT NULL)
);

CREATE TABLE declarations (
  number      TEXT PRIMARY KEY,                 -- declaration-of-works number, 13 characters
  site_id     TEXT NOT NULL REFERENCES sites(id),
  valid_from  TEXT NOT NULL,                    -- YYYY-MM-DD, site calendar, inclusive
  valid_to    TEXT,                             -- YYYY-MM-DD inclusive; NULL = open-ended
  created_at  TEXT NOT NULL
);
CREATE INDEX declarations_site ON declarations (site_id, valid_from);

-- The contractor chain: which companies work under a declaration, and at which rank (0 = main contractor).
CREATE TABLE declaration_companies (
  declaration TEXT NOT NULL REFERENCES declarations(number) ON DELETE CASCADE,
  company_id  TEXT NOT NULL REFERENCES companies(id),
  rank        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (declaration, company_id)
);

CREATE TABLE terminals (
  id                TEXT PRIMARY KEY,
  site_id           TEXT REFERENCES sites(id),
  secret_hash       TEXT NOT NULL,              -- scrypt$N$r$p$salt$hash (base64)
  disabled          INTEGER NOT NULL DEFAULT 0,
  debounce_seconds  INTEGER NOT NULL DEFAULT 60,
  buttons           TEXT NOT NULL DEFAULT 'IN,OUT,BREAK',
  arm_seconds       INTEGER NOT NULL DEFAULT 10,
  created_at        TEXT NOT NULL,
  secret_rotated_at TEXT NOT NULL
);

CREATE TABLE workers (
  id          TEXT PRIMARY KEY,                 -- the gateway's own worker key
  ssin        TEXT UNIQUE,                      -- NISS/BIS digits; never leaves the gateway but to ONSS
  limosa_id   TEXT UNIQUE,
  name        TEXT NOT NULL,
  capacity    TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  CHECK (ssin IS NOT NULL OR limosa_id IS NOT NULL)
);

CREATE TABLE worker_employers (
  worker_id   TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
  company_id  TEXT NOT NULL REFERENCES companies(id),
  PRIMARY KEY (worker_id, company_id)
);

CREATE TABLE badges (
  uid         TEXT PRIMARY KEY,                 -- upper-case hex
  worker_id   TEXT NOT NULL REFERENCES workers(id),
  valid_from  TEXT NOT NULL,                    -- YYYY-MM-DD inclusive
  valid_to    TEXT,                             -- YYYY-MM-DD inclusive; NULL = open-ended
  revoked_at  TEXT,
  revoked_reason TEXT,
  created_at  TEXT NOT NULL
);
CREATE INDEX badges_worker ON badges (worker_id);

-- Every accepted tap, enriched or not. A tap that could not be enriched stays here with its reason for the
-- site manager; it is never dropped.
CREATE TABLE taps (
  tap_id        TEXT PRIMARY KEY,
  terminal_id   TEXT NOT NULL,
  site_id       TEXT,
  seq           INTEGER NOT NULL,
  badge         TEXT NOT NULL,
  direction     TEXT NOT NULL,
  reason        TEXT NOT NULL,
  at            TEXT NOT NULL,
  local_at      TEXT,
  employer      TEXT,
  received_at   TEXT NOT NULL,
  enrichment    TEXT NOT NULL,                  -- 'enriched' or the reason it could not be
  enrichment_detail TEXT
);
CREATE INDEX taps_terminal_seq ON taps (terminal_id, seq);
CREATE INDEX taps_enrichment ON taps (enrichment) WHERE enrichment <> 'enriched';

-- Payloads refused at ingest (malformed, oversized, wrong version, invalid field), kept for the site manager.
CREATE TABLE quarantine (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  terminal_id   TEXT NOT NULL,
  tap_id        TEXT,
  reason        TEXT NOT NULL,
  problems      TEXT NOT NULL,                  -- JSON FieldProblem[]
  payload       BLOB NOT NULL,                  -- the bytes as received (at most 4 KiB kept)
  payload_size  INTEGER NOT NULL,
  received_at   TEXT NOT NULL
);

CREATE TABLE terminal_status (
  terminal_id       TEXT PRIMARY KEY,
  state             TEXT NOT NULL,              -- online | offline
  reported_at       TEXT,                       -- the terminal's own 'at' in its last status message
  version           TEXT,
  queued            INTEGER,
  reported_skew_ms  INTEGER,                    -- what the terminal says about its clock
  measured_skew_ms  INTEGER,                    -- what the gateway measured from taps (terminal minus gateway)
  last_tap_at       TEXT,
  connected_at      TEXT,
  disconnected_at   TEXT,
  updated_at        TEXT NOT NULL
);

${versionTriggers()}
`,
  // The site manager's console: deactivation instead of deletion (history stays), terminal settings the
  // console edits (language, feedback time) with a config version the terminal reports back, enrolment
  // mode, and one-time pairing codes (stored hashed).
  `
ALTER TABLE companies ADD COLUMN deactivated_at TEXT;
ALTER TABLE sites ADD COLUMN deactivated_at TEXT;
ALTER TABLE declarations ADD COLUMN deactivated_at TEXT;
ALTER TABLE workers ADD COLUMN deactivated_at TEXT;
ALTER TABLE terminals ADD COLUMN language TEXT CHECK (language IS NULL OR language IN ('fr', 'nl', 'de', 'en'));  -- NULL: the site's
ALTER TABLE terminals ADD COLUMN feedback_seconds REAL;                                                          -- NULL: the terminal's own
ALTER TABLE terminals ADD COLUMN config_version INTEGER NOT NULL DEFAULT 1;                                     -- bumped by every settings change
ALTER TABLE terminals ADD COLUMN enrolment_until TEXT;                                                          -- enrolment mode on until then (UTC)
ALTER TABLE terminal_status ADD COLUMN config_version INTEGER;                                                  -- what the terminal says it applied

CREATE TABLE terminal_pairings (
  code_hash    TEXT PRIMARY KEY,              -- sha256 hex of the one-time code
  terminal_id  TEXT NOT NULL REFERENCES terminals(id),
  created_by   TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  used_at      TEXT,
  used_from    TEXT
);
CREATE INDEX terminal_pairings_terminal ON terminal_pairings (terminal_id);
`,
];
