-- The site data: companies, sites, declarations and their contractor chain, terminals, workers, their
-- employers and agency placements, badges, pairing codes, and the settings the running gateway shares with
-- `ciao admin`. The same tables as SQLite's (gateway/store/gateway-schema.ts, day-correct-schema.ts,
-- badge-security-schema.ts), as they stand after all of SQLite's migrations.
--
-- `site_data_version` is bumped by a trigger on every row written in a site-data table, so that every
-- gateway instance notices a change made by another one (or by `ciao admin`) and republishes the terminals'
-- config and roster.

CREATE TABLE site_data_version (
  id       bigint PRIMARY KEY CHECK (id = 1),
  version  bigint NOT NULL
);
INSERT INTO site_data_version (id, version) VALUES (1, 0);

-- One function for every counter trigger: row-level, as SQLite's, so a statement writing n rows bumps by n.
CREATE FUNCTION site_data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE site_data_version SET version = version + 1 WHERE id = 1;
  RETURN NULL;
END;
$$;

-- The guard of rows that may never change or go: refuses the write with the message it is given, the same
-- text as SQLite's RAISE(ABORT, ...), so callers recognise the refusal on either database.
CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'restrict_violation';
END;
$$;

CREATE TABLE companies (
  id              text PRIMARY KEY,             -- enterprise number (10 digits) or foreign VAT/id
  kind            text NOT NULL CHECK (kind IN ('enterprise', 'foreign')),
  name            text NOT NULL,
  created_at      text NOT NULL,
  deactivated_at  text
);

CREATE TABLE sites (
  id                     text PRIMARY KEY,
  name                   text NOT NULL,
  language               text NOT NULL CHECK (language IN ('fr', 'nl', 'de', 'en')),
  post_code              text,
  municipality           text,
  street                 text,
  house_number           text,
  box_number             text,
  latitude               double precision,
  longitude              double precision,
  created_at             text NOT NULL,
  deactivated_at         text,
  require_secure_badges  integer NOT NULL DEFAULT 0 CHECK (require_secure_badges IN (0, 1)),
  CHECK (post_code IS NOT NULL OR latitude IS NOT NULL)
);

CREATE TABLE declarations (
  number          text PRIMARY KEY,             -- declaration-of-works number, 13 characters
  site_id         text NOT NULL REFERENCES sites (id),
  valid_from      text NOT NULL,                -- YYYY-MM-DD, site calendar, inclusive
  valid_to        text,                         -- YYYY-MM-DD inclusive; NULL = open-ended
  created_at      text NOT NULL,
  deactivated_at  text,
  ciao_url        text                          -- the declaration's CIaO registration URL (its QR code)
);
CREATE INDEX declarations_site ON declarations (site_id, valid_from);

-- The contractor chain: which companies work under a declaration, and at which rank (0 = main contractor).
CREATE TABLE declaration_companies (
  declaration  text NOT NULL REFERENCES declarations (number) ON DELETE CASCADE,
  company_id   text NOT NULL REFERENCES companies (id),
  rank         integer NOT NULL DEFAULT 0,
  PRIMARY KEY (declaration, company_id)
);

CREATE TABLE terminals (
  id                 text PRIMARY KEY,
  site_id            text REFERENCES sites (id),
  secret_hash        text NOT NULL,             -- scrypt$N$r$p$salt$hash (base64)
  disabled           integer NOT NULL DEFAULT 0,
  debounce_seconds   integer NOT NULL DEFAULT 60,
  buttons            text NOT NULL DEFAULT 'IN,OUT,BREAK',
  arm_seconds        integer NOT NULL DEFAULT 10,
  created_at         text NOT NULL,
  secret_rotated_at  text NOT NULL,
  language           text CHECK (language IS NULL OR language IN ('fr', 'nl', 'de', 'en')),  -- NULL: the site's
  feedback_seconds   double precision,                                                        -- NULL: the terminal's own
  config_version     integer NOT NULL DEFAULT 1,                                              -- bumped by every settings change
  enrolment_until    text                                                                     -- enrolment mode on until then (UTC)
);

CREATE TABLE workers (
  id              text PRIMARY KEY,             -- the gateway's own worker key
  ssin            text UNIQUE,                  -- NISS/BIS digits; never leaves the gateway but to ONSS
  limosa_id       text UNIQUE,
  name            text NOT NULL,
  capacity        text NOT NULL,
  created_at      text NOT NULL,
  deactivated_at  text,
  CHECK (ssin IS NOT NULL OR limosa_id IS NOT NULL)
);

-- `rowid`: the order the employers were given in, the first being the worker's main employer. SQLite keeps
-- it in its implicit rowid, which the gateway reads (ORDER BY rowid); here it is a column of that name.
CREATE TABLE worker_employers (
  worker_id   text NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
  company_id  text NOT NULL REFERENCES companies (id),
  rowid       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  PRIMARY KEY (worker_id, company_id)
);
CREATE INDEX worker_employers_company ON worker_employers (company_id);

CREATE TABLE badges (
  uid             text PRIMARY KEY,             -- upper-case hex
  worker_id       text NOT NULL REFERENCES workers (id),
  valid_from      text NOT NULL,                -- YYYY-MM-DD inclusive
  valid_to        text,                         -- YYYY-MM-DD inclusive; NULL = open-ended
  revoked_at      text,
  revoked_reason  text,
  created_at      text NOT NULL,
  kind            text NOT NULL DEFAULT 'uid-only' CHECK (kind IN ('uid-only', 'secure')),
  key_version     integer CHECK (key_version IS NULL OR key_version BETWEEN 1 AND 255)
);
CREATE INDEX badges_worker ON badges (worker_id);

-- An agency worker placed with a user company, from/to. `rowid` as in worker_employers: the order they were made.
CREATE TABLE agency_placements (
  id               text PRIMARY KEY,
  worker_id        text NOT NULL REFERENCES workers (id),
  agency_id        text NOT NULL REFERENCES companies (id),
  user_company_id  text NOT NULL REFERENCES companies (id),
  valid_from       text NOT NULL,             -- YYYY-MM-DD inclusive
  valid_to         text,                      -- YYYY-MM-DD inclusive; NULL = open-ended
  created_at       text NOT NULL,
  deactivated_at   text,
  rowid            bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX agency_placements_worker ON agency_placements (worker_id);
CREATE INDEX agency_placements_user_company ON agency_placements (user_company_id);

-- One-time pairing codes (stored hashed).
CREATE TABLE terminal_pairings (
  code_hash    text PRIMARY KEY,              -- sha256 hex of the one-time code
  terminal_id  text NOT NULL REFERENCES terminals (id),
  created_by   text NOT NULL,
  created_at   text NOT NULL,
  expires_at   text NOT NULL,
  used_at      text,
  used_from    text
);
CREATE INDEX terminal_pairings_terminal ON terminal_pairings (terminal_id);

CREATE TABLE gateway_settings (
  key    text PRIMARY KEY,
  value  text NOT NULL
);

CREATE TRIGGER companies_insert_version AFTER INSERT ON companies FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER companies_update_version AFTER UPDATE ON companies FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER companies_delete_version AFTER DELETE ON companies FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER sites_insert_version AFTER INSERT ON sites FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER sites_update_version AFTER UPDATE ON sites FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER sites_delete_version AFTER DELETE ON sites FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER declarations_insert_version AFTER INSERT ON declarations FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER declarations_update_version AFTER UPDATE ON declarations FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER declarations_delete_version AFTER DELETE ON declarations FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER declaration_companies_insert_version AFTER INSERT ON declaration_companies FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER declaration_companies_update_version AFTER UPDATE ON declaration_companies FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER declaration_companies_delete_version AFTER DELETE ON declaration_companies FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER terminals_insert_version AFTER INSERT ON terminals FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER terminals_update_version AFTER UPDATE ON terminals FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER terminals_delete_version AFTER DELETE ON terminals FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER workers_insert_version AFTER INSERT ON workers FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER workers_update_version AFTER UPDATE ON workers FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER workers_delete_version AFTER DELETE ON workers FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER worker_employers_insert_version AFTER INSERT ON worker_employers FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER worker_employers_update_version AFTER UPDATE ON worker_employers FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER worker_employers_delete_version AFTER DELETE ON worker_employers FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER badges_insert_version AFTER INSERT ON badges FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER badges_update_version AFTER UPDATE ON badges FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER badges_delete_version AFTER DELETE ON badges FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER agency_placements_insert_version AFTER INSERT ON agency_placements FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER agency_placements_update_version AFTER UPDATE ON agency_placements FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
CREATE TRIGGER agency_placements_delete_version AFTER DELETE ON agency_placements FOR EACH ROW EXECUTE FUNCTION site_data_version_bump();
