-- Each release's bundle in chunks of about 1 MiB, written in the same transaction as its `releases` row, so
-- that every instance of a cluster can serve a bundle that another instance took (gateway/fleet/bundle-chunks.ts).
-- The same table as SQLite's (gateway/fleet/schema.ts), where it stays empty.

CREATE TABLE release_chunks (
  version  text NOT NULL REFERENCES releases (version),
  n        integer NOT NULL,                -- 0, 1, 2, … in the order of the bundle's bytes
  bytes    bytea NOT NULL,
  PRIMARY KEY (version, n)
);

-- A bundle is a gzip archive: compressing its chunks again costs CPU and saves nothing. EXTERNAL keeps them
-- out of line (TOAST) and uncompressed.
ALTER TABLE release_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
