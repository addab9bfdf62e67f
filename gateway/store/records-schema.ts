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
  // Roles of the console (FAQ 33): administrator, site manager, payroll, read-only; a user may be scoped to a
  // company (its own workers and its subcontracting chain) and/or to sites. Existing users: admin ->
  // administrator; manager -> site-manager with the same sites (a NISS grant is kept as it was).
  // The audit trail: every change with who, when, what before and after.
  `
CREATE TABLE siteman_users_v2 (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role IN ('administrator', 'site-manager', 'payroll', 'read-only')),
  company_id   TEXT,                          -- scope: this company's workers and its subcontracting chain; NULL: any
  sites        TEXT,                          -- scope: JSON array of site ids; NULL: every site
  can_see_niss INTEGER NOT NULL DEFAULT 0,    -- a grant beyond the role (administrators and payroll see NISS anyway)
  token_hash   TEXT NOT NULL UNIQUE,
  created_at   TEXT NOT NULL,
  revoked_at   TEXT
);
INSERT INTO siteman_users_v2 (id, name, role, company_id, sites, can_see_niss, token_hash, created_at, revoked_at)
  SELECT id, name, CASE role WHEN 'admin' THEN 'administrator' ELSE 'site-manager' END, NULL,
         CASE role WHEN 'admin' THEN NULL ELSE sites END, can_see_niss, token_hash, created_at, revoked_at
  FROM siteman_users;
DROP TABLE siteman_users;
ALTER TABLE siteman_users_v2 RENAME TO siteman_users;

CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          TEXT NOT NULL,                  -- UTC ISO
  actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('user', 'cli', 'system', 'terminal')),
  actor_id    TEXT NOT NULL,
  actor_name  TEXT NOT NULL,
  action      TEXT NOT NULL,                  -- create, update, deactivate, reactivate, enrol, pair-code, paired, import, ...
  entity      TEXT NOT NULL,                  -- company, site, declaration, worker, badge, terminal, user
  entity_id   TEXT NOT NULL,
  site_id     TEXT,                           -- the site the change concerns, for scoped reading
  before      TEXT,                           -- JSON, NISS masked; NULL for a creation
  after       TEXT,                           -- JSON, NISS masked
  cause_id    INTEGER REFERENCES audit_log(id)-- a change made because of another (e.g. a release of held taps)
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_at ON audit_log (at);
`,
];
