/**
 * One row per tap (component `one-row-per-tap`). Until this migration every enriched tap was written twice:
 * once in `taps`, once in `registrations`, each with its own copy of the tap id, the terminal, the site, the
 * worker, the times and their indexes (about 710 bytes on disk per tap). Now the registration lives in its
 * tap's row:
 * - `taps.reg_seq`: the registration's number (the forwarder sends in this order); NULL while the tap is held;
 * - `taps.at_s`: the registration's instant in whole seconds since 1970 (UTC): what ONSS takes, and what the
 *   records' period searches use (an integer in the indexes instead of a 20-character text);
 * - `taps.reg_at`: the registration's time when it is not the tap's own `at` (a wrong offset registered at
 *   its true instant, with the Brussels offset); NULL otherwise;
 * - `taps.ssin`, `limosa_id`, `capacity`: the worker as registered (kept as they were at the tap, whatever
 *   later corrections to the worker say);
 * - `taps.context_id`: the employer, the declaration and the place of work, the same for most taps of a site
 *   and an employer, kept once in `registration_contexts`.
 * `registrations` is a view with the columns of the former table, so every reader (the forwarder, the
 * records, remarks, exports) reads it as before; inserting into it (tools, tests) writes the tap's row.
 *
 * A registration cannot be cancelled: once a tap has its registration, neither the registration's columns
 * nor the tap's own columns it is made of may change, and the row may not be deleted (triggers).
 *
 * Existing databases are converted in the migration's transaction: the taps table is rebuilt with its rowids
 * kept (the secure badges' counter snapshot refers to them), each registration moved into its tap's row. A
 * registration without a tap row (only tools ever wrote those) gets a row of its own, with an empty badge.
 */
const TAP_COLUMNS = 'tap_id, terminal_id, site_id, seq, badge, direction, reason, at, local_at, employer, received_at, enrichment, enrichment_detail, sun_counter, worker_id';

/** What a registered tap may not change (the registration is made of these). */
const FROZEN = ['reg_seq', 'reg_at', 'at_s', 'ssin', 'limosa_id', 'capacity', 'context_id', 'tap_id', 'terminal_id', 'site_id', 'worker_id', 'direction', 'reason', 'at', 'received_at'];

export const TAP_ROWS_DDL = `
CREATE TABLE registration_contexts (
  id             INTEGER PRIMARY KEY,
  employer_kind  TEXT NOT NULL CHECK (employer_kind IN ('enterprise', 'foreign')),
  employer_id    TEXT NOT NULL,               -- enterprise number (10 digits) or foreign VAT/id
  declaration    TEXT NOT NULL,               -- declaration-of-works number (13 chars)
  place_of_work  TEXT NOT NULL,               -- JSON PlaceOfWork: {address?, coordinates?}
  UNIQUE (employer_id, declaration, employer_kind, place_of_work)
);

CREATE TABLE taps_one_row (
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
  enrichment_detail TEXT,
  sun_counter   INTEGER,
  worker_id     TEXT,
  reg_seq       INTEGER,                        -- its registration's number; NULL while held
  reg_at        TEXT,                           -- the registration's time when not the tap's own
  at_s          INTEGER,                        -- the registration's instant, seconds since 1970 UTC
  ssin          TEXT,                           -- NISS/BIS digits; never leaves the gateway but to ONSS and exports
  limosa_id     TEXT,
  capacity      TEXT,
  context_id    INTEGER,                        -- registration_contexts.id (contexts are never changed or deleted)
  CHECK (reg_seq IS NULL OR (at_s IS NOT NULL AND capacity IS NOT NULL AND context_id IS NOT NULL AND site_id IS NOT NULL
                             AND direction IN ('IN', 'OUT') AND reason IN ('work', 'break') AND (ssin IS NOT NULL OR limosa_id IS NOT NULL)))
);
`;

const VIEW_AND_TRIGGERS = `
CREATE UNIQUE INDEX taps_reg_seq ON taps (reg_seq) WHERE reg_seq IS NOT NULL;
-- Periods first: the records read a period, of some sites or of all of them (an administrator's view).
CREATE INDEX taps_reg_at ON taps (at_s, site_id) WHERE reg_seq IS NOT NULL;
CREATE INDEX taps_reg_worker_at ON taps (worker_id, at_s) WHERE reg_seq IS NOT NULL;
CREATE INDEX taps_enrichment ON taps (enrichment) WHERE enrichment <> 'enriched';
CREATE INDEX taps_held_worker ON taps (worker_id) WHERE enrichment <> 'enriched' AND worker_id IS NOT NULL;
CREATE INDEX taps_held_badge ON taps (badge) WHERE enrichment <> 'enriched';

-- The context's columns are looked up by key only when a query reads them: a query that reads none of them
-- (MAX(seq), COUNT(*), the forwarder's next batch's numbers) is a query on the taps table and its indexes.
CREATE VIEW registrations AS
SELECT t.reg_seq AS seq, t.tap_id, t.terminal_id, t.site_id, t.worker_id, t.direction AS type, t.reason,
       COALESCE(t.reg_at, t.at) AS at, strftime('%Y-%m-%dT%H:%M:%SZ', t.at_s, 'unixepoch') AS at_utc,
       t.ssin, t.limosa_id, t.capacity,
       (SELECT c.employer_kind FROM registration_contexts c WHERE c.id = t.context_id) AS employer_kind,
       (SELECT c.employer_id FROM registration_contexts c WHERE c.id = t.context_id) AS employer_id,
       (SELECT c.declaration FROM registration_contexts c WHERE c.id = t.context_id) AS declaration,
       (SELECT c.place_of_work FROM registration_contexts c WHERE c.id = t.context_id) AS place_of_work,
       t.received_at, t.at_s
FROM taps t
WHERE t.reg_seq IS NOT NULL;

-- Tools and tests append registrations as rows of the view: the tap's row gets its registration (a row of
-- its own when the tap was never stored). One registration per tap, as before.
CREATE TRIGGER registrations_insert INSTEAD OF INSERT ON registrations
BEGIN
  SELECT RAISE(ABORT, 'UNIQUE constraint failed: registrations.tap_id') WHERE EXISTS (SELECT 1 FROM taps WHERE tap_id = NEW.tap_id AND reg_seq IS NOT NULL);
  INSERT INTO registration_contexts (employer_kind, employer_id, declaration, place_of_work)
    VALUES (NEW.employer_kind, NEW.employer_id, NEW.declaration, NEW.place_of_work) ON CONFLICT DO NOTHING;
  INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, worker_id)
    VALUES (NEW.tap_id, NEW.terminal_id, NEW.site_id, 0, '', NEW.type, NEW.reason, NEW.at, NEW.received_at, 'enriched', NEW.worker_id)
    ON CONFLICT (tap_id) DO NOTHING;
  UPDATE taps SET
    reg_seq = COALESCE(NEW.seq, (SELECT COALESCE(MAX(reg_seq), 0) + 1 FROM taps WHERE reg_seq IS NOT NULL)),
    reg_at = CASE WHEN NEW.at IS NOT at THEN NEW.at END,
    at_s = unixepoch(NEW.at_utc), ssin = NEW.ssin, limosa_id = NEW.limosa_id, capacity = NEW.capacity,
    context_id = (SELECT id FROM registration_contexts WHERE employer_id = NEW.employer_id AND declaration = NEW.declaration AND employer_kind = NEW.employer_kind AND place_of_work = NEW.place_of_work),
    site_id = NEW.site_id, worker_id = NEW.worker_id, enrichment = 'enriched', enrichment_detail = NULL
  WHERE tap_id = NEW.tap_id;
END;

-- A registration's context is part of it: once written, a context stays as it is (the writers look a context
-- up or add it in the registration's own transaction; a key checked on every insert cost ingest about a
-- tenth of its time per tap).
CREATE TRIGGER registration_contexts_kept BEFORE DELETE ON registration_contexts
BEGIN
  SELECT RAISE(ABORT, 'a registration context cannot be deleted');
END;
CREATE TRIGGER registration_contexts_frozen BEFORE UPDATE ON registration_contexts
BEGIN
  SELECT RAISE(ABORT, 'a registration context cannot be changed');
END;

-- A registration cannot be cancelled or changed.
CREATE TRIGGER taps_registration_frozen BEFORE UPDATE OF ${FROZEN.join(', ')} ON taps
WHEN OLD.reg_seq IS NOT NULL AND (${FROZEN.map((c) => `NEW.${c} IS NOT OLD.${c}`).join(' OR ')})
BEGIN
  SELECT RAISE(ABORT, 'a registration cannot be changed');
END;
CREATE TRIGGER taps_registration_kept BEFORE DELETE ON taps WHEN OLD.reg_seq IS NOT NULL
BEGIN
  SELECT RAISE(ABORT, 'a registration cannot be deleted');
END;
`;

export const TAP_ROWS_MIGRATIONS: string[] = [
  `
${TAP_ROWS_DDL}
INSERT INTO registration_contexts (employer_kind, employer_id, declaration, place_of_work)
  SELECT employer_kind, employer_id, declaration, place_of_work FROM registrations GROUP BY employer_id, declaration, employer_kind, place_of_work ORDER BY MIN(seq);

INSERT INTO taps_one_row (rowid, ${TAP_COLUMNS}, reg_seq, reg_at, at_s, ssin, limosa_id, capacity, context_id)
  SELECT t.rowid, t.tap_id, t.terminal_id, COALESCE(r.site_id, t.site_id), t.seq, t.badge, t.direction, t.reason, t.at, t.local_at, t.employer,
         t.received_at, t.enrichment, t.enrichment_detail, t.sun_counter, COALESCE(r.worker_id, t.worker_id),
         r.seq, CASE WHEN r.at IS NOT t.at THEN r.at END, unixepoch(r.at_utc), r.ssin, r.limosa_id, r.capacity, c.id
  FROM taps t
  LEFT JOIN registrations r ON r.tap_id = t.tap_id
  LEFT JOIN registration_contexts c ON c.employer_id = r.employer_id AND c.declaration = r.declaration AND c.employer_kind = r.employer_kind AND c.place_of_work = r.place_of_work;

INSERT INTO taps_one_row (${TAP_COLUMNS}, reg_seq, reg_at, at_s, ssin, limosa_id, capacity, context_id)
  SELECT r.tap_id, r.terminal_id, r.site_id, 0, '', r.type, r.reason, r.at, NULL, NULL, r.received_at, 'enriched', NULL, NULL, r.worker_id,
         r.seq, NULL, unixepoch(r.at_utc), r.ssin, r.limosa_id, r.capacity, c.id
  FROM registrations r
  JOIN registration_contexts c ON c.employer_id = r.employer_id AND c.declaration = r.declaration AND c.employer_kind = r.employer_kind AND c.place_of_work = r.place_of_work
  WHERE NOT EXISTS (SELECT 1 FROM taps t WHERE t.tap_id = r.tap_id)
  ORDER BY r.seq;

DROP TABLE registrations;
DROP TABLE taps;
ALTER TABLE taps_one_row RENAME TO taps;
${VIEW_AND_TRIGGERS}
`,
];
