import type { Db } from '../../shared/sqlite.ts';
import type { ForwardOutcome, OutageFact } from '../remarks/model.ts';

/**
 * What the forwarder knows: the outcome of each registration at ONSS (`forward_state`, keyed by the
 * registration's seq) and the outage journal (`outage_journal`, proof for force majeure, FAQ 57-59).
 * Both tables belong to the forwarder (gateway/forward/schema.ts); this module only reads them, and says
 * so when this database has no forwarder tables (a gateway whose forwarding is off).
 */
export interface ForwardingSource {
  /** null when this database has no forwarder outcomes to read. */
  outcomes(seqs: number[]): Map<number, ForwardOutcome> | null;
  outages(from: string, to: string): OutageFact[];
  /** Names of the forwarder tables this database does not have. */
  missing(): string[];
}

interface ForwardStateRow {
  seq: number;
  state: 'in_flight' | 'retry' | 'created' | 'not_created';
  first_sent_at: string | null;
  last_sent_at: string | null;
  answered_at: string | null;
  onss_id: string | null;
  remarks: string | null;
  errors: string | null;
  outage_id: number | null;
}

interface OutageRow {
  id: number;
  started_at: string;
  ended_at: string | null;
  cause: string;
  last_cause: string;
}

function hasTable(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?").get(name) !== undefined;
}

function parseJsonArray(text: string | null): unknown[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v : [v];
  } catch {
    return [text];
  }
}

/** An ONSS error as one readable line, whatever shape the forwarder kept it in. */
function errorText(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    const parts = [o.code, o.title, o.detail, o.message, o.field ? `field ${String(o.field)}` : undefined].filter((x) => typeof x === 'string' && x.length > 0);
    if (parts.length) return parts.join(': ');
  }
  return JSON.stringify(e);
}

const CHUNK = 500;

export function sqliteForwardingSource(db: Db): ForwardingSource {
  return {
    outcomes(seqs) {
      if (!hasTable(db, 'forward_state')) return null;
      const out = new Map<number, ForwardOutcome>();
      for (let i = 0; i < seqs.length; i += CHUNK) {
        const chunk = seqs.slice(i, i + CHUNK);
        const rows = db.prepare(`SELECT seq, state, first_sent_at, last_sent_at, answered_at, onss_id, remarks, errors, outage_id FROM forward_state WHERE seq IN (${chunk.map(() => '?').join(', ')})`).all(...chunk) as ForwardStateRow[];
        for (const r of rows) {
          const sentAt = r.answered_at ?? r.last_sent_at ?? r.first_sent_at ?? '';
          const outageId = r.outage_id === null ? null : String(r.outage_id);
          switch (r.state) {
            case 'created':
              out.set(r.seq, { state: 'created', sentAt, onssId: r.onss_id ?? undefined, remarks: parseJsonArray(r.remarks).map(errorText), outageId });
              break;
            case 'not_created':
              out.set(r.seq, { state: 'not-created', sentAt, errors: parseJsonArray(r.errors).map(errorText), outageId });
              break;
            case 'in_flight':
              out.set(r.seq, { state: 'in-flight', since: r.last_sent_at ?? undefined, outageId });
              break;
            default:
              // retry: certainly not at ONSS yet, to be sent again.
              out.set(r.seq, { state: 'pending', outageId });
          }
        }
      }
      return out;
    },

    outages(from, to) {
      if (!hasTable(db, 'outage_journal')) return [];
      const start = Date.parse(from);
      const end = Date.parse(to);
      return (db.prepare('SELECT id, started_at, ended_at, cause, last_cause FROM outage_journal ORDER BY id').all() as OutageRow[])
        .filter((o) => Date.parse(o.started_at) <= end && (o.ended_at === null || Date.parse(o.ended_at) >= start))
        .map((o) => ({ id: String(o.id), scope: 'onss', from: o.started_at, to: o.ended_at, cause: o.last_cause && o.last_cause !== o.cause ? `${o.cause}; last: ${o.last_cause}` : o.cause }));
    },

    missing() {
      return [
        ...(hasTable(db, 'forward_state') ? [] : ['forward_state (forwarder outcomes)']),
        ...(hasTable(db, 'outage_journal') ? [] : ['outage_journal']),
      ];
    },
  };
}
