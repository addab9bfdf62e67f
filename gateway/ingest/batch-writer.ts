import type { Transaction } from 'better-sqlite3';
import type { Db } from '../../shared/sqlite.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import type { RejectReason, Tap } from '../../shared/mqtt/payloads.ts';
import { Enricher, type EnrichmentStatus } from './enrich.ts';

/**
 * One group-commit transaction: every item of a batch written together (taps, their enrichment and
 * registrations, quarantined payloads, measured clock skew), one COMMIT, one fsync. Synchronous (better-sqlite3);
 * it runs either on the gateway's thread or on a writer thread of its own (see writers.ts).
 */
export type IngestItem =
  | { kind: 'tap'; terminalId: string; tap: Tap; receivedAt: string; receivedMs: number; arrivedPerf: number }
  | { kind: 'reject'; terminalId: string; tapId?: string; reason: RejectReason; problems: FieldProblem[]; payload: Uint8Array; receivedAt: string; receivedMs: number; arrivedPerf: number }
  | StatusItem;

/** A terminal came online, went offline, or reported its status: written with the next batch. */
export interface StatusItem {
  kind: 'status';
  terminalId: string;
  change: 'online' | 'offline' | 'report';
  /** Gateway clock. */
  at: string;
  report?: { state: 'online' | 'offline'; at: string; version?: string; queued?: number; clockSkewMs?: number; configVersion?: number };
}

/** What happened to each item, in the order of the batch. */
export type ItemResult = { status: 'stored'; duplicate: boolean; enrichment?: EnrichmentStatus } | { status: 'rejected' } | { status: 'noted' };

export interface BatchResult {
  results: ItemResult[];
  registrations: number;
  durationMs: number;
}

/** How often, at most, a terminal's measured skew and last tap time are rewritten when the skew is steady. */
const SKEW_WRITE_INTERVAL_MS = 5000;

export class BatchWriter {
  private readonly transaction: Transaction<(items: IngestItem[]) => { results: ItemResult[]; registrations: number; written: Array<[string, number]> }>;
  private readonly skewWritten = new Map<string, { skewMs: number; atMs: number }>();

  constructor(db: Db) {
    const enricher = new Enricher(db);
    const insertTap = db.prepare(
      `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, local_at, employer, received_at, enrichment, enrichment_detail)
       VALUES (@tap_id, @terminal_id, @site_id, @seq, @badge, @direction, @reason, @at, @local_at, @employer, @received_at, @enrichment, @enrichment_detail)
       ON CONFLICT (tap_id) DO NOTHING`,
    );
    const insertRegistration = db.prepare(
      `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
       VALUES (@tap_id, @terminal_id, @site_id, @worker_id, @type, @reason, @at, @at_utc, @ssin, @limosa_id, @capacity, @employer_kind, @employer_id, @declaration, @place_of_work, @received_at)
       ON CONFLICT (tap_id) DO NOTHING`,
    );
    const insertQuarantine = db.prepare(
      'INSERT INTO quarantine (terminal_id, tap_id, reason, problems, payload, payload_size, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const updateSkew = db.prepare(
      `INSERT INTO terminal_status (terminal_id, state, measured_skew_ms, last_tap_at, updated_at) VALUES (?, 'online', ?, ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET measured_skew_ms = excluded.measured_skew_ms, last_tap_at = excluded.last_tap_at, updated_at = excluded.updated_at`,
    );

    const connected = db.prepare(
      `INSERT INTO terminal_status (terminal_id, state, connected_at, updated_at) VALUES (?, 'online', ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET state = 'online', connected_at = excluded.connected_at, updated_at = excluded.updated_at`,
    );
    const disconnected = db.prepare(
      `INSERT INTO terminal_status (terminal_id, state, disconnected_at, updated_at) VALUES (?, 'offline', ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET state = 'offline', disconnected_at = excluded.disconnected_at, updated_at = excluded.updated_at`,
    );
    const reported = db.prepare(
      `INSERT INTO terminal_status (terminal_id, state, reported_at, version, queued, reported_skew_ms, config_version, updated_at) VALUES (@id, @state, @at, @version, @queued, @skew, @configVersion, @now)
       ON CONFLICT (terminal_id) DO UPDATE SET state = excluded.state, reported_at = excluded.reported_at,
         version = COALESCE(excluded.version, version), queued = COALESCE(excluded.queued, queued),
         config_version = COALESCE(excluded.config_version, config_version),
         reported_skew_ms = COALESCE(excluded.reported_skew_ms, reported_skew_ms), updated_at = excluded.updated_at`,
    );
    const writeStatus = (item: StatusItem) => {
      if (item.change === 'online') connected.run(item.terminalId, item.at, item.at);
      else if (item.change === 'offline') disconnected.run(item.terminalId, item.at, item.at);
      else if (item.report) {
        const r = item.report;
        reported.run({ id: item.terminalId, state: r.state, at: r.at, version: r.version ?? null, queued: r.queued ?? null, skew: r.clockSkewMs ?? null, configVersion: r.configVersion ?? null, now: item.at });
      }
    };

    this.transaction = db.transaction((items: IngestItem[]) => {
      enricher.beginBatch();
      const results: ItemResult[] = [];
      const skew = new Map<string, { skewMs: number; at: string }>();
      let registrations = 0;
      for (const item of items) {
        if (item.kind === 'status') {
          writeStatus(item);
          results.push({ status: 'noted' });
          continue;
        }
        if (item.kind === 'reject') {
          const payload = Buffer.from(item.payload.buffer, item.payload.byteOffset, item.payload.byteLength);
          insertQuarantine.run(item.terminalId, item.tapId ?? null, item.reason, JSON.stringify(item.problems), payload.subarray(0, 4096), payload.byteLength, item.receivedAt);
          results.push({ status: 'rejected' });
          continue;
        }
        const { tap } = item;
        // Terminal clock minus gateway clock at arrival; transit and queueing only lower it, so the
        // highest value in a batch is the best estimate.
        const tapSkew = Date.parse(tap.at) - item.receivedMs;
        const prev = skew.get(item.terminalId);
        if (!prev || tapSkew > prev.skewMs) skew.set(item.terminalId, { skewMs: tapSkew, at: item.receivedAt });
        // Enrich first, then insert: a tap id already stored inserts nothing (changes = 0) and is a
        // duplicate, acked again and stored once, without a lookup of its own.
        const e = enricher.enrich(item.terminalId, tap, item.receivedAt);
        const inserted = insertTap.run({
          tap_id: tap.id,
          terminal_id: item.terminalId,
          site_id: e.siteId,
          seq: tap.seq,
          badge: tap.badge,
          direction: tap.direction,
          reason: tap.reason,
          at: tap.at,
          local_at: tap.localAt ?? null,
          employer: tap.employer ? ('enterpriseNumber' in tap.employer ? tap.employer.enterpriseNumber : tap.employer.foreignVatNumber) : null,
          received_at: item.receivedAt,
          enrichment: e.status,
          enrichment_detail: e.status === 'enriched' ? null : e.detail,
        }).changes;
        if (inserted === 0) {
          results.push({ status: 'stored', duplicate: true });
          continue;
        }
        if (e.status === 'enriched') registrations += insertRegistration.run(e.registration).changes;
        results.push({ status: 'stored', duplicate: false, enrichment: e.status });
      }
      const nowMs = Date.now();
      const now = new Date(nowMs).toISOString();
      const written: Array<[string, number]> = [];
      for (const [terminalId, v] of skew) {
        // One row write per terminal per batch would cost as much as the taps: write when the skew moved
        // by a second or more, or every few seconds.
        const last = this.skewWritten.get(terminalId);
        const skewMs = Math.round(v.skewMs);
        if (last && Math.abs(last.skewMs - skewMs) < 1000 && nowMs - last.atMs < SKEW_WRITE_INTERVAL_MS) continue;
        updateSkew.run(terminalId, skewMs, v.at, now);
        written.push([terminalId, skewMs]);
      }
      return { results, registrations, written };
    });
  }

  /** Writes the batch in one transaction; throws (and writes nothing) if the transaction fails. */
  write(items: IngestItem[]): BatchResult {
    const started = performance.now();
    // BEGIN IMMEDIATE: the transaction takes the write lock before its first read, so it waits on the busy
    // timeout for a writer in another connection (the forwarder, `ciao admin`) instead of failing with
    // SQLITE_BUSY_SNAPSHOT when its read snapshot turns out stale at the first write.
    const r = this.transaction.immediate(items);
    const atMs = Date.now();
    for (const [terminalId, skewMs] of r.written) this.skewWritten.set(terminalId, { skewMs, atMs });
    return { results: r.results, registrations: r.registrations, durationMs: performance.now() - started };
  }
}
