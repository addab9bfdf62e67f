/**
 * The forwarder's own tables in the gateway database (component `forward`). The `registrations` table is
 * never written; what became of each registration at ONSS lives here, keyed by its `seq`.
 *
 * States of a registration once picked up:
 *   in_flight   - marked (committed) before the call that carries it; ONSS may or may not have it
 *   retry       - certainly not at ONSS (a refused or unsent call, or a reconciliation found nothing)
 *   created     - ONSS created it: `onss_id`, `validity` and ONSS `remarks` are tracked; `validity` is
 *                 `pending` until ONSS has run its checks (the ONSS port says when), then ONSS's own value
 *   not_created - ONSS refused it: `errors` kept; never resent blindly
 * A registration with no row here has not been picked up yet.
 */
export const FORWARD_MIGRATIONS = [
  `
  CREATE TABLE outage_journal (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at            TEXT NOT NULL,
    ended_at              TEXT,
    cause                 TEXT NOT NULL,
    last_cause            TEXT NOT NULL,
    failures              INTEGER NOT NULL DEFAULT 1,
    registrations_delayed INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE forward_state (
    seq                 INTEGER PRIMARY KEY,
    tap_id              TEXT NOT NULL,   -- unique already in registrations; no second index to maintain
    client_reference    TEXT NOT NULL,   -- derived from tap_id, so unique with it
    state               TEXT NOT NULL CHECK (state IN ('in_flight', 'retry', 'created', 'not_created')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    first_sent_at       TEXT,
    last_sent_at        TEXT,
    answered_at         TEXT,
    onss_id             TEXT,
    validity            TEXT,
    remarks             TEXT,
    errors              TEXT,
    last_failure        TEXT,
    validity_checked_at INTEGER,
    duplicates_at_onss  INTEGER NOT NULL DEFAULT 0,
    outage_id           INTEGER REFERENCES outage_journal (id)
  );
  CREATE INDEX forward_state_in_flight ON forward_state (seq) WHERE state = 'in_flight';
  CREATE INDEX forward_state_retry ON forward_state (seq) WHERE state = 'retry';
  CREATE INDEX forward_state_pending_validity ON forward_state (validity_checked_at, seq) WHERE state = 'created' AND validity = 'pending';
  CREATE INDEX forward_state_outage ON forward_state (outage_id, seq) WHERE outage_id IS NOT NULL;
  CREATE INDEX forward_state_not_created ON forward_state (seq) WHERE state = 'not_created';
  CREATE INDEX forward_state_remarks ON forward_state (seq) WHERE state = 'created' AND remarks IS NOT NULL AND remarks <> '[]';
  `,
];

/** The forwarder's word for a created registration whose checks ONSS has not run yet. */
export const PENDING_VALIDITY = 'pending';

export type ForwardStateName = 'in_flight' | 'retry' | 'created' | 'not_created';

export interface ForwardStateRow {
  seq: number;
  tap_id: string;
  client_reference: string;
  state: ForwardStateName;
  attempts: number;
  first_sent_at: string | null;
  last_sent_at: string | null;
  answered_at: string | null;
  onss_id: string | null;
  validity: string | null;
  remarks: string | null;
  errors: string | null;
  last_failure: string | null;
  validity_checked_at: number | null;
  duplicates_at_onss: number;
  outage_id: number | null;
}

export interface OutageRow {
  id: number;
  started_at: string;
  ended_at: string | null;
  cause: string;
  last_cause: string;
  failures: number;
  registrations_delayed: number;
}
