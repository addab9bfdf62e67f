/**
 * The site manager's tables (their `siteman_` prefix and migration key stay for existing databases): API users (tokens kept only as SHA-256 hashes; a token is 256 random bits, so a
 * fast hash is enough and lookups stay O(1)) and correction requests. Both sit in the gateway database next
 * to the registrations they refer to by `seq`; neither ever changes a registration.
 */
export const RECORDS_MIGRATIONS: string[] = [
  `
CREATE TABLE siteman_users (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role IN ('manager', 'admin')),
  sites        TEXT NOT NULL,                 -- JSON array of site ids (managers); [] for admins
  can_see_niss INTEGER NOT NULL DEFAULT 0,
  token_hash   TEXT NOT NULL UNIQUE,          -- sha256 hex of the bearer token
  created_at   TEXT NOT NULL,
  revoked_at   TEXT
);

CREATE TABLE siteman_corrections (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  seq             INTEGER NOT NULL,           -- registrations.seq (never modified)
  tap_id          TEXT NOT NULL,
  site_id         TEXT NOT NULL,
  field           TEXT NOT NULL CHECK (field IN ('employer', 'declaration')),
  current_value   TEXT NOT NULL,
  requested_value TEXT NOT NULL,
  reason          TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('draft', 'sent', 'accepted', 'refused')),
  deadline        TEXT NOT NULL,              -- last site day to send it (registration day + 30)
  created_at      TEXT NOT NULL,
  created_by      TEXT NOT NULL,
  sent_at         TEXT,
  decided_at      TEXT,
  decision_note   TEXT,
  history         TEXT NOT NULL               -- JSON [{state, at, by, note}]
);
CREATE INDEX siteman_corrections_seq ON siteman_corrections (seq);
CREATE INDEX siteman_corrections_site ON siteman_corrections (site_id, state);
`,
];

