/**
 * The fleet's tables: terminal certificates (issued by the gateway's CA, revocable), uploaded releases, which
 * release each terminal is offered, and what terminals report about their updates.
 *
 * Revocation needs no code path to remember it: a trigger revokes a terminal's certificates the moment the
 * terminal is disabled, whoever disables it (the console, `ciao admin` in another process). Changes here bump
 * `site_data_version`, so the running gateway republishes configs (update offers) and puts out connections
 * whose certificate was just revoked. `release_chunks` changes nothing a terminal is offered, so it bumps nothing.
 */
const bump = 'UPDATE site_data_version SET version = version + 1 WHERE id = 1;';

export const FLEET_MIGRATIONS: string[] = [
  `
CREATE TABLE terminal_certificates (
  serial          TEXT PRIMARY KEY,             -- hex, as node:crypto's X509Certificate reports it
  terminal_id     TEXT NOT NULL REFERENCES terminals(id),
  fingerprint     TEXT NOT NULL,                -- SHA-256 of the DER, hex
  not_before      TEXT NOT NULL,
  not_after       TEXT NOT NULL,
  issued_at       TEXT NOT NULL,
  issued_for      TEXT NOT NULL CHECK (issued_for IN ('pairing', 'renewal', 'operator')),
  revoked_at      TEXT,
  revoked_reason  TEXT
);
CREATE INDEX terminal_certificates_terminal ON terminal_certificates (terminal_id, issued_at);

CREATE TRIGGER terminal_certificates_revoke_on_disable AFTER UPDATE OF disabled ON terminals
WHEN NEW.disabled = 1 AND OLD.disabled = 0
BEGIN
  UPDATE terminal_certificates SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), revoked_reason = 'terminal disabled'
   WHERE terminal_id = NEW.id AND revoked_at IS NULL;
END;
CREATE TRIGGER terminal_certificates_insert_version AFTER INSERT ON terminal_certificates BEGIN ${bump} END;
CREATE TRIGGER terminal_certificates_update_version AFTER UPDATE ON terminal_certificates BEGIN ${bump} END;

CREATE TABLE releases (
  version       TEXT PRIMARY KEY,
  sha256        TEXT NOT NULL,
  size          INTEGER NOT NULL,
  signed        TEXT NOT NULL,                  -- the signed manifest as uploaded (JSON)
  key_id        TEXT NOT NULL,
  file          TEXT NOT NULL,                  -- the bundle, under releases.dir
  uploaded_at   TEXT NOT NULL,
  uploaded_by   TEXT NOT NULL
);

-- The release each terminal is offered. A new rollout of any version gets a new id: a terminal that rolled
-- back an offer does not try the same one again, but does try a new rollout of it.
CREATE TABLE release_targets (
  terminal_id   TEXT PRIMARY KEY REFERENCES terminals(id),
  version       TEXT NOT NULL REFERENCES releases(version),
  rollout       INTEGER NOT NULL,
  assigned_at   TEXT NOT NULL,
  assigned_by   TEXT NOT NULL
);
CREATE TABLE release_rollouts (id INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL);
CREATE TRIGGER release_targets_insert_version AFTER INSERT ON release_targets BEGIN ${bump} END;
CREATE TRIGGER release_targets_update_version AFTER UPDATE ON release_targets BEGIN ${bump} END;
CREATE TRIGGER release_targets_delete_version AFTER DELETE ON release_targets BEGIN ${bump} END;

-- What each terminal last said about an update (its status message's "update"), newest only.
CREATE TABLE terminal_update_reports (
  terminal_id   TEXT PRIMARY KEY,
  version       TEXT NOT NULL,
  rollout       INTEGER,
  state         TEXT NOT NULL,
  reason        TEXT,
  reported_at   TEXT NOT NULL
);
`,
  // Each release's bundle in chunks of about 1 MiB, written in the upload's transaction, so that every
  // instance of a cluster on PostgreSQL can serve a bundle another instance took (gateway/fleet/bundle-chunks.ts).
  // On SQLite the bundle is a file under releases.dir and this table stays empty; it exists so that both
  // databases have the same tables.
  `
CREATE TABLE release_chunks (
  version  TEXT NOT NULL REFERENCES releases(version),
  n        INTEGER NOT NULL,                  -- 0, 1, 2, … in the order of the bundle's bytes
  bytes    BLOB NOT NULL,
  PRIMARY KEY (version, n)
);
`,
];
